"""Periods service: creation, period-wide edits, locking and deletion (SPEC F3)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import DomainError, PeriodLocked
from app.models import (
    ActivitySheet,
    Assessment,
    AssessmentItem,
    AuditLog,
    InterimReview,
    LiaisonSheet,
    PedagogicalAnnex,
    Period,
    Portfolio,
    SheetKind,
    SheetTask,
)
from app.services import periods
from app.services.periods import FieldError, PeriodInput


def _input(learners: list[Any], start: date, end: date, **kw: Any) -> PeriodInput:
    kw.setdefault("name", "PFMP 1")
    kw.setdefault("objectives", "Objectifs de la période")
    kw.setdefault("activities", "Activités de la période")
    return PeriodInput(start_date=start, end_date=end, learner_ids=[x.id for x in learners], **kw)


@pytest.fixture
def school(f: Any) -> Any:
    class School:
        level = f.level()
        group = f.class_group(level)
        other_group = f.class_group(level)
        teacher = f.teacher([level])
        a = f.learner(group, first_name="Inès", last_name="Garay")
        b = f.learner(group, first_name="Emilie", last_name="Temmam")
        c = f.learner(other_group, first_name="Noah", last_name="Bernard")

    return School


def _sheets(portfolio: Portfolio) -> list[ActivitySheet]:
    return sorted(portfolio.sheets, key=lambda s: s.position)


# --- creation ----------------------------------------------------------------------------------


def test_create_period_generates_portfolios_sheets_liaison_and_assessment(
    school: Any, db: Any
) -> None:
    period = periods.create_period(
        school.teacher,
        school.level,
        _input([school.a, school.b], date(2022, 6, 13), date(2022, 7, 1)),
    )
    assert len(period.portfolios) == 2
    for portfolio in period.portfolios:
        titles = [s.title for s in _sheets(portfolio)]
        assert titles == [
            "Fiche activité : semaine 24 [2022]",
            "Fiche activité : semaine 25 [2022]",
            "Fiche activité : semaine 26 [2022]",
        ]
        assert [s.position for s in _sheets(portfolio)] == [0, 1, 2]
        assert all(
            s.kind == SheetKind.WEEK and s.learner_id == portfolio.learner_id
            for s in portfolio.sheets
        )
        assert portfolio.liaison_sheet is not None
        assert portfolio.liaison_sheet.objectives == "Objectifs de la période"
        assert portfolio.liaison_sheet.activities == "Activités de la période"
        assert portfolio.assessment is not None and portfolio.assessment.status == "draft"
        assert portfolio.referent_teacher_id == school.teacher.id
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "period.created"))
    assert log is not None and log.object_id == period.id and log.actor_id == school.teacher.id


def test_week_sheets_follow_iso_weeks_across_new_year(school: Any) -> None:
    period = periods.create_period(
        school.teacher, school.level, _input([school.a], date(2025, 12, 24), date(2026, 1, 9))
    )
    titles = [s.title for s in _sheets(period.portfolios[0])]
    assert titles == [
        "Fiche activité : semaine 52 [2025]",
        "Fiche activité : semaine 1 [2026]",
        "Fiche activité : semaine 2 [2026]",
    ]


def test_whole_class_and_individuals_are_united(school: Any) -> None:
    data = _input([school.c], date(2026, 6, 8), date(2026, 6, 12), class_ids=[school.group.id])
    period = periods.create_period(school.teacher, school.level, data)
    assert {p.learner_id for p in period.portfolios} == {school.a.id, school.b.id, school.c.id}


def test_create_from_annex_keeps_annex_and_copies_tasks(school: Any, f: Any) -> None:
    tasks = f.framework().activities[0].tasks[:2]
    annex = PedagogicalAnnex(
        level_id=school.level.id, name="Annexe", objectives="Racine", activities="Racine"
    )
    annex.tasks = list(tasks)
    f.s.add(annex)
    f.s.flush()
    data = _input(
        [school.a],
        date(2026, 6, 8),
        date(2026, 6, 12),
        task_ids=[t.id for t in tasks],
        objectives="Adapté",
    )
    period = periods.create_period(school.teacher, school.level, data, annex)
    assert period.annex_id == annex.id
    assert [t.id for t in period.tasks] == [t.id for t in tasks]
    assert annex.objectives == "Racine"


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"start": date(2026, 6, 12), "end": date(2026, 6, 8)}, "end_date", "date de fin"),
        ({"start": None, "end": date(2026, 6, 8)}, "start_date", "date de début"),
        ({"start": date(2026, 1, 5), "end": date(2027, 6, 8)}, "end_date", "53 semaines"),
        ({"name": "  "}, "name", "nom"),
    ],
)
def test_create_refuses_bad_input_with_a_french_message(
    school: Any, kwargs: dict[str, Any], field: str, message: str
) -> None:
    start = kwargs.pop("start", date(2026, 6, 8))
    end = kwargs.pop("end", date(2026, 6, 12))
    with pytest.raises(FieldError) as error:
        periods.create_period(
            school.teacher, school.level, _input([school.a], start, end, **kwargs)
        )
    assert error.value.field == field
    assert message in error.value.message


def test_create_refuses_no_learner_and_learners_of_another_level(school: Any, f: Any) -> None:
    with pytest.raises(FieldError, match="au moins un apprenant"):
        periods.create_period(
            school.teacher, school.level, _input([], date(2026, 6, 8), date(2026, 6, 12))
        )
    stranger = f.learner()  # another level
    with pytest.raises(FieldError, match="n'appartient pas à ce niveau") as error:
        periods.create_period(
            school.teacher, school.level, _input([stranger], date(2026, 6, 8), date(2026, 6, 12))
        )
    assert error.value.field == "learner_ids"
    other_class = f.class_group()
    with pytest.raises(FieldError) as error:
        periods.create_period(
            school.teacher,
            school.level,
            _input([], date(2026, 6, 8), date(2026, 6, 12), class_ids=[other_class.id]),
        )
    assert error.value.field == "class_ids"


def test_create_refuses_an_overlap_naming_the_learner(school: Any, db: Any) -> None:
    periods.create_period(
        school.teacher, school.level, _input([school.a], date(2026, 6, 8), date(2026, 6, 26))
    )
    with pytest.raises(FieldError) as error:
        periods.create_period(
            school.teacher,
            school.level,
            _input([school.b, school.a], date(2026, 6, 22), date(2026, 7, 3), name="PFMP 2"),
        )
    assert school.a.full_name in error.value.message
    assert "chevaucher" in error.value.message
    # Nothing of the refused period was written.
    assert db.session.scalar(select(Period).where(Period.name == "PFMP 2")) is None
    # Adjacent periods are fine.
    periods.create_period(
        school.teacher, school.level, _input([school.a], date(2026, 6, 27), date(2026, 7, 3))
    )


def test_factory_period_matches_what_the_service_creates(school: Any, f: Any) -> None:
    made = f.period(school.level, [school.a], start=date(2026, 6, 8), weeks=3)
    created = periods.create_period(
        school.teacher,
        school.level,
        _input(
            [school.b],
            made.start_date,
            made.end_date,
            objectives=made.objectives,
            activities=made.activities,
        ),
    )

    def shape(p: Period) -> list[tuple[Any, ...]]:
        return [
            (s.kind, s.iso_year, s.iso_week, s.position, s.title) for s in _sheets(p.portfolios[0])
        ]

    f.s.expire_all()
    assert shape(made) == shape(created)
    assert (
        made.portfolios[0].liaison_sheet.objectives
        == created.portfolios[0].liaison_sheet.objectives
    )


# --- edit --------------------------------------------------------------------------------------


def _period(school: Any, learners: list[Any] | None = None) -> Period:
    return periods.create_period(
        school.teacher,
        school.level,
        _input(learners or [school.a, school.b], date(2026, 6, 8), date(2026, 6, 26)),
    )


def test_lengthening_adds_week_sheets(school: Any, f: Any) -> None:
    period = _period(school)
    result = periods.update_period(
        school.teacher, period, _input([school.a, school.b], date(2026, 6, 8), date(2026, 7, 10))
    )
    assert result.added_sheets == 4 and result.moved == 0
    for portfolio in period.portfolios:
        assert [s.iso_week for s in _sheets(portfolio)] == [24, 25, 26, 27, 28]
        assert [s.position for s in _sheets(portfolio)] == [0, 1, 2, 3, 4]


def test_shortening_moves_written_sheets_to_free_and_deletes_empty_ones(
    school: Any, f: Any, db: Any
) -> None:
    period = _period(school)
    portfolio = next(p for p in period.portfolios if p.learner_id == school.a.id)
    week26 = _sheets(portfolio)[2]
    f.written(week26)
    other = next(p for p in period.portfolios if p.learner_id == school.b.id)
    ticked = _sheets(other)[2]  # only a task ticked: still content
    task = f.framework().activities[0].tasks[0]
    f.s.add(SheetTask(sheet_id=ticked.id, task_id=task.id, ticked_by_learner=True))
    f.s.flush()
    result = periods.update_period(
        school.teacher, period, _input([school.a, school.b], date(2026, 6, 8), date(2026, 6, 12))
    )
    assert result.moved == 2 and result.deleted_sheets == 2  # the two empty week-25 sheets
    f.s.expire_all()
    assert week26.portfolio_id is None and week26.kind == SheetKind.WEEK
    assert week26.description.startswith("J'ai câblé")
    assert ticked.portfolio_id is None
    for p in period.portfolios:
        assert [s.iso_week for s in p.sheets] == [24]
    # Empty sheets of the removed week 25 are gone.
    left = db.session.scalars(
        select(ActivitySheet).where(
            ActivitySheet.learner_id.in_([school.a.id, school.b.id]), ActivitySheet.iso_week == 25
        )
    ).all()
    assert left == []


def test_edit_flows_to_liaison_sheets_except_individualised_fields(school: Any, f: Any) -> None:
    from app.services import liaison

    annex = PedagogicalAnnex(level_id=school.level.id, name="Racine", objectives="Racine")
    f.s.add(annex)
    f.s.flush()
    period = periods.create_period(
        school.teacher,
        school.level,
        _input([school.a, school.b], date(2026, 6, 8), date(2026, 6, 26)),
        annex,
    )
    sheet_a = next(p for p in period.portfolios if p.learner_id == school.a.id).liaison_sheet
    sheet_b = next(p for p in period.portfolios if p.learner_id == school.b.id).liaison_sheet
    liaison.update_plan(school.teacher, sheet_a, "objectives", "Objectifs d'Inès")
    periods.update_period(
        school.teacher,
        period,
        _input(
            [school.a, school.b],
            date(2026, 6, 8),
            date(2026, 6, 26),
            objectives="Nouveaux objectifs",
            activities="Nouvelles activités",
        ),
    )
    f.s.expire_all()
    assert sheet_a.objectives == "Objectifs d'Inès" and sheet_a.objectives_individual
    assert sheet_a.activities == "Nouvelles activités"
    assert sheet_b.objectives == "Nouveaux objectifs"
    assert sheet_b.activities == "Nouvelles activités"
    assert annex.objectives == "Racine"  # the root annex never changes
    assert period.annex_id == annex.id


def test_removing_a_learner_keeps_their_written_sheets(school: Any, f: Any, db: Any) -> None:
    period = _period(school)
    portfolio_b = next(p for p in period.portfolios if p.learner_id == school.b.id)
    written = f.written(_sheets(portfolio_b)[0])
    result = periods.update_period(
        school.teacher, period, _input([school.a, school.c], date(2026, 6, 8), date(2026, 6, 26))
    )
    assert result.moved == 1
    assert result.removed_learners == [school.b.full_name]
    assert result.added_learners == [school.c.full_name]
    f.s.expire_all()
    assert {p.learner_id for p in period.portfolios} == {school.a.id, school.c.id}
    assert written.portfolio_id is None
    assert db.session.scalars(
        select(ActivitySheet).where(ActivitySheet.learner_id == school.b.id)
    ).all() == [written]
    portfolio_c = next(p for p in period.portfolios if p.learner_id == school.c.id)
    assert len(portfolio_c.sheets) == 3 and portfolio_c.assessment is not None


def test_complementary_sheets_stay_after_the_week_sheets(school: Any, f: Any) -> None:
    period = _period(school, [school.a])
    portfolio = period.portfolios[0]
    extra = ActivitySheet(
        learner_id=school.a.id,
        portfolio_id=portfolio.id,
        kind=SheetKind.COMPLEMENTARY,
        title="Visite de chantier",
        position=9,
    )
    f.s.add(extra)
    f.s.flush()
    f.s.expire(portfolio, ["sheets"])
    periods.update_period(
        school.teacher, period, _input([school.a], date(2026, 6, 1), date(2026, 6, 26))
    )
    f.s.expire_all()
    titles = [s.title for s in _sheets(portfolio)]
    assert titles[0] == "Fiche activité : semaine 23 [2026]"
    assert titles[-1] == "Visite de chantier"
    assert len(titles) == 5


def test_edit_refuses_overlap_with_another_period(school: Any) -> None:
    first = _period(school, [school.a])
    periods.create_period(
        school.teacher,
        school.level,
        _input([school.a], date(2026, 9, 7), date(2026, 9, 25), name="PFMP 2"),
    )
    with pytest.raises(FieldError, match="chevaucher"):
        periods.update_period(
            school.teacher, first, _input([school.a], date(2026, 6, 8), date(2026, 9, 11))
        )


def _review(f: Any, learner: Any, assessment: Assessment | None, when: date) -> InterimReview:
    review = InterimReview(learner_id=learner.id, review_date=when)
    if assessment is not None:
        review.assessments = [assessment]
    f.s.add(review)
    f.s.flush()
    return review


def test_lock_once_an_interim_review_used_an_assessment(school: Any, f: Any) -> None:
    period = _period(school)
    assert periods.period_lock_reason(period) is None
    portfolio = next(p for p in period.portfolios if p.learner_id == school.a.id)
    assert portfolio.assessment is not None
    _review(f, school.a, portfolio.assessment, date(2026, 7, 10))
    reason = periods.period_lock_reason(period)
    assert reason is not None and "bilan intermédiaire" in reason and "10/07/2026" in reason
    with pytest.raises(PeriodLocked):
        periods.update_period(
            school.teacher, period, _input([school.a, school.b], date(2026, 6, 8), date(2026, 7, 3))
        )


def test_cannot_remove_a_learner_whose_assessment_is_completed(school: Any) -> None:
    period = _period(school)
    portfolio = next(p for p in period.portfolios if p.learner_id == school.b.id)
    assert portfolio.assessment is not None
    portfolio.assessment.status = "completed"
    with pytest.raises(FieldError, match="Impossible de retirer"):
        periods.update_period(
            school.teacher, period, _input([school.a], date(2026, 6, 8), date(2026, 6, 26))
        )


# --- delete ------------------------------------------------------------------------------------


def test_delete_moves_written_sheets_and_removes_portfolios(school: Any, f: Any, db: Any) -> None:
    period = _period(school)
    period_id = period.id
    portfolio_ids = [p.id for p in period.portfolios]
    written = [f.written(s) for p in period.portfolios for s in _sheets(p)[:2]]
    moved = periods.delete_period(school.teacher, period)
    assert moved == 4
    f.s.expire_all()
    assert db.session.get(Period, period_id) is None
    assert db.session.scalars(select(Portfolio).where(Portfolio.period_id == period_id)).all() == []
    for model in (LiaisonSheet, Assessment):
        rows = db.session.scalars(select(model).where(model.portfolio_id.in_(portfolio_ids)))
        assert rows.all() == []
    for sheet in written:
        assert sheet.portfolio_id is None
    remaining = db.session.scalars(
        select(ActivitySheet).where(ActivitySheet.learner_id.in_([school.a.id, school.b.id]))
    ).all()
    assert sorted(s.id for s in remaining) == sorted(s.id for s in written)
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "period.deleted"))
    assert log is not None and log.object_id == period_id and log.details["moved_sheets"] == 4
    assert periods.moved_message(7) == "7 fiches déplacées dans les fiches libres"


def test_delete_refused_when_an_assessment_is_completed_without_later_review(
    school: Any, f: Any
) -> None:
    period = _period(school)
    portfolio = next(p for p in period.portfolios if p.learner_id == school.a.id)
    assert portfolio.assessment is not None
    portfolio.assessment.status = "completed"
    f.s.flush()
    preview = periods.deletion_preview(period)
    assert preview.blockers and school.a.full_name in preview.blockers[0]
    with pytest.raises(DomainError, match="ne peut pas être supprimée"):
        periods.delete_period(school.teacher, period)
    # A review on the meeting day is not later than it: still refused.
    _review(f, school.a, None, date(2026, 6, 26))
    assert periods.deletion_preview(period).blockers
    # A later interim review allows it.
    _review(f, school.a, portfolio.assessment, date(2026, 9, 1))
    assert periods.deletion_preview(period).blockers == []
    periods.delete_period(school.teacher, period)


def test_delete_uses_the_meeting_date_item_when_set(school: Any, f: Any) -> None:
    period = _period(school, [school.a])
    assessment = period.portfolios[0].assessment
    assert assessment is not None
    assessment.status = "completed"
    f.s.add(
        AssessmentItem(
            assessment_id=assessment.id,
            item_key="meeting_date",
            kind="meeting_date",
            value="2026-07-15",
        )
    )
    f.s.flush()
    _review(f, school.a, None, date(2026, 7, 1))  # after the period's end, before the meeting
    assert periods.deletion_preview(period).blockers
    _review(f, school.a, None, date(2026, 7, 16))
    assert periods.deletion_preview(period).blockers == []


def test_sheets_with_content_counts_links_and_text(school: Any, f: Any) -> None:
    period = _period(school, [school.a])
    empty, texted, linked = _sheets(period.portfolios[0])
    texted.analysis = "J'ai appris"
    task = f.framework().activities[0].tasks[0]
    f.s.add(SheetTask(sheet_id=linked.id, task_id=task.id))
    f.s.flush()
    assert periods.sheets_with_content([empty, texted, linked]) == {texted.id, linked.id}


def test_a_learner_who_left_the_level_is_not_dropped_by_an_edit(school: Any, f: Any) -> None:
    period = _period(school)
    school.b.class_group_id = f.class_group().id  # moved to another level's class
    f.s.flush()
    result = periods.update_period(
        school.teacher,
        period,
        _input([school.a, school.b], date(2026, 6, 8), date(2026, 6, 26), objectives="Neuf"),
    )
    assert result.removed_learners == []
    f.s.expire_all()
    assert {p.learner_id for p in period.portfolios} == {school.a.id, school.b.id}
    # But such a learner cannot be added to another period of this level.
    with pytest.raises(FieldError, match="n'appartient pas à ce niveau"):
        periods.create_period(
            school.teacher, school.level, _input([school.b], date(2026, 9, 7), date(2026, 9, 11))
        )
