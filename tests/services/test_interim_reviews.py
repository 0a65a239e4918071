"""Interim reviews: positions per competency, the assessments used (which lock their
periods), validation and rights."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import NotAllowed
from app.models import AuditLog, Competency, interim_review_assessments
from app.services import assessments as svc
from app.services import interim_reviews as reviews


def _competencies(f: Any, framework_id: int) -> list[Competency]:
    return list(
        f.s.scalars(
            select(Competency)
            .where(Competency.framework_id == framework_id)
            .order_by(Competency.position)
        )
    )


def _completed(f: Any, w: Any) -> None:
    c1 = _competencies(f, w.level.framework_id)[0]
    svc.record_change(
        w.assessment,
        w.teacher,
        f"competency:{c1.id}",
        "3",
        device_time=None,
        change_uuid=str(uuid.uuid4()),
    )
    svc.complete(w.assessment, w.teacher)


def test_review_records_positions_and_the_assessments_it_used(f: Any) -> None:
    w = f.world()
    _completed(f, w)
    c1, c2, c3 = _competencies(f, w.level.framework_id)[:3]
    usable = reviews.usable_assessments(w.learner)
    assert [u.id for u in usable] == [w.assessment.id]
    review = reviews.create_review(
        w.learner,
        w.teacher,
        review_date=date(2026, 12, 15),
        comment="Bon trimestre.\r\nContinuer.",
        assessment_ids=[w.assessment.id],
        positions={c1.id: "3", c2.id: None, c3.id: "1"},
        notes={c3.id: " À retravailler "},
    )
    assert review.comment == "Bon trimestre.\nContinuer."
    assert {(p.competency_id, p.value, p.comment) for p in review.positions} == {
        (c1.id, "3", ""),
        (c3.id, "1", "À retravailler"),
    }
    used = (
        f.s.execute(
            select(interim_review_assessments.c.assessment_id).where(
                interim_review_assessments.c.review_id == review.id
            )
        )
        .scalars()
        .all()
    )
    assert used == [w.assessment.id]
    assert f.s.scalar(
        select(AuditLog.action).where(
            AuditLog.object_id == review.id, AuditLog.object_type == "interim_review"
        )
    )
    assert [r.id for r in reviews.list_reviews(w.learner)] == [review.id]
    loaded = reviews.load_review(w.learner, review.id)
    assert loaded is not None and loaded.assessments[0].portfolio.period.name == w.period.name
    assert reviews.load_review(w.classmate, review.id) is None


def test_bad_reviews_are_refused_field_by_field(f: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    mee = _competencies(f, w.other_level.framework_id)[0]
    with pytest.raises(reviews.ReviewInvalid) as refused:
        reviews.create_review(
            w.learner,
            w.teacher,
            review_date=None,
            comment="x" * 5001,
            assessment_ids=[w.assessment.id, w.other_assessment.id],  # drafts, someone else's
            positions={c1.id: "9"},
            notes={c1.id: "y" * 1001},
        )
    errors = refused.value.errors
    assert set(errors) == {"review_date", "comment", "assessments", f"pos-{c1.id}", f"note-{c1.id}"}
    with pytest.raises(reviews.ReviewInvalid) as refused:
        reviews.create_review(
            w.learner,
            w.teacher,
            review_date=date(2026, 12, 1),
            comment="",
            assessment_ids=[],
            positions={mee.id: "3"},
            notes={},
        )
    assert "Compétence inconnue" in refused.value.errors["positions"]
    with pytest.raises(reviews.ReviewInvalid) as refused:
        reviews.create_review(
            w.learner,
            w.teacher,
            review_date=date(2026, 12, 1),
            comment="",
            assessment_ids=[],
            positions={c1.id: None},
            notes={},
        )
    assert "au moins une compétence" in refused.value.errors["positions"]


def test_only_the_learners_teachers_write_reviews(f: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    for user in (w.other_teacher, w.tutor, w.learner, w.admin):
        with pytest.raises(NotAllowed):
            reviews.create_review(
                w.learner,
                user,
                review_date=date(2026, 12, 1),
                comment="",
                assessment_ids=[],
                positions={c1.id: "3"},
                notes={},
            )
