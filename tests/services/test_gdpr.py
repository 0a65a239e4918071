"""GDPR: the export of a learner's data and their erasure (deletion or anonymisation), always
checked against a second learner whose data must stay out of the export and untouched."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from flask import current_app
from sqlalchemy import String, Text, select

from app.extensions import db as _db
from app.models import (
    ActivitySheet,
    Assessment,
    AssessmentItem,
    AssessmentItemChange,
    Attachment,
    AuditLog,
    InterimReview,
    InterimReviewPosition,
    Invitation,
    JournalEntry,
    Learner,
    LiaisonSheet,
    LoginAttempt,
    Portfolio,
    SyncReceipt,
    User,
)
from app.models.base import utcnow
from app.services import audit, gdpr


@dataclass
class Filled:
    learner: Learner
    portfolio: Portfolio
    sheet: ActivitySheet
    assessment: Assessment
    files: list[Path]
    secret: str  # a word written only in this learner's texts


def attach_file(sheet: ActivitySheet, name: str, content: bytes) -> Path:
    directory = Path(current_app.config["UPLOAD_DIR"]) / "attachments"
    directory.mkdir(parents=True, exist_ok=True)
    stored = secrets.token_hex(16)
    path = directory / stored
    path.write_bytes(content)
    _db.session.add(
        Attachment(
            sheet_id=sheet.id,
            kind="file",
            original_name=name,
            stored_name=stored,
            content_type="image/png",
            size=len(content),
        )
    )
    _db.session.flush()
    return path


def fill(f: Any, portfolio: Portfolio, secret: str, *, completed: bool) -> Filled:
    """Give a learner's portfolio everything the GDPR code must find: a written sheet with
    two attachments of the same name and a link, a journal day, a liaison sheet, a rated and
    commented assessment with history, an interim review, an invitation, audit entries."""
    learner = portfolio.learner
    sheet = portfolio.sheets[0]
    f.written(sheet, f"J'ai câblé un tableau chez {secret}.")
    sheet.analysis = f"Analyse {secret}"
    sheet.company = f"Entreprise {secret}"
    files = [
        attach_file(sheet, "photo.png", b"\x89PNG first " + secret.encode()),
        attach_file(sheet, "photo.png", b"\x89PNG second " + secret.encode()),
    ]
    f.s.add(Attachment(sheet_id=sheet.id, kind="url", url=f"https://example.org/{secret}"))
    f.s.add(
        JournalEntry(
            portfolio_id=portfolio.id,
            entry_date=portfolio.period.start_date,
            hours=Decimal("7.5"),
            description=f"Journée avec {secret}",
        )
    )
    liaison = portfolio.liaison_sheet
    liaison.company_name = f"SARL {secret}"
    liaison.company_siret = "12345678900011"
    liaison.tutor_name = f"M. {secret}"
    liaison.tutor_email = f"{secret.lower()}@entreprise.fr"
    teacher = f.teacher([portfolio.period.level])
    assessment = portfolio.assessment or f.assessment(portfolio)
    criterion_item = AssessmentItem(
        assessment_id=assessment.id, item_key="engagement", kind="engagement", value="3",
        version=1, author_id=teacher.id, author_role="teacher", server_time=utcnow(),
    )  # fmt: skip
    comment_item = AssessmentItem(
        assessment_id=assessment.id, item_key="comment", kind="comment",
        value=f"Très bon stage, {secret}", version=2, author_id=teacher.id,
        author_role="teacher", server_time=utcnow(),
    )  # fmt: skip
    f.s.add_all([criterion_item, comment_item])
    f.s.flush()
    f.s.add_all(
        [
            AssessmentItemChange(
                item_id=criterion_item.id, change_uuid=str(uuid4()), value="3",
                author_id=teacher.id, author_role="teacher", resulting_version=1,
            ),
            AssessmentItemChange(
                item_id=comment_item.id, change_uuid=str(uuid4()), value=f"Bon stage {secret}",
                author_id=teacher.id, author_role="teacher", resulting_version=1,
            ),
            AssessmentItemChange(
                item_id=comment_item.id, change_uuid=str(uuid4()),
                value=f"Très bon stage, {secret}", previous_value=f"Bon stage {secret}",
                author_id=teacher.id, author_role="teacher", resulting_version=2,
            ),
        ]
    )  # fmt: skip
    if completed:
        assessment.status = "completed"
        assessment.completed_at = utcnow()
        assessment.completed_by_id = teacher.id
    competency = f.framework().competencies[0]
    review = InterimReview(
        learner_id=learner.id, teacher_id=teacher.id, review_date=date(2026, 7, 1),
        comment=f"Progrès de {secret}",
    )  # fmt: skip
    f.s.add(review)
    f.s.flush()
    f.s.add(
        InterimReviewPosition(
            review_id=review.id, competency_id=competency.id, value="3", comment=f"C1 {secret}"
        )
    )
    f.s.add(
        Invitation(
            user_id=learner.id, token_hash=secrets.token_hex(32),
            expires_at=utcnow() + timedelta(days=3),
        )
    )  # fmt: skip
    f.s.add(SyncReceipt(change_uuid=str(uuid4()), user_id=learner.id, payload_hash="x" * 64,
                        receipt={"value": secret}))  # fmt: skip
    f.s.add(LoginAttempt(key=f"email:{learner.email}"))
    audit.record(learner, "sheet.created", "activity_sheet", sheet.id, learner_id=learner.id,
                 title=f"Fiche {secret}")  # fmt: skip
    audit.record(teacher, "assessment.completed", "assessment", assessment.id,
                 learner_id=learner.id)  # fmt: skip
    f.s.flush()
    return Filled(learner, portfolio, sheet, assessment, files, secret)


@pytest.fixture
def two(f: Any) -> tuple[Any, Filled, Filled]:
    w = f.world()
    mine = fill(f, w.portfolio, "Zephyrin", completed=False)
    theirs = fill(f, w.classmate_portfolio, "Quillevere", completed=True)
    return w, mine, theirs


def _export(admin: User, learner: Learner) -> tuple[dict[str, Any], zipfile.ZipFile]:
    archive = zipfile.ZipFile(io.BytesIO(gdpr.export_learner(admin, learner).read()))
    return json.loads(archive.read("data.json")), archive


# --- export ----------------------------------------------------------------------------------


def test_export_holds_everything_about_the_learner(two: Any) -> None:
    w, mine, _theirs = two
    data, archive = _export(w.admin, mine.learner)
    assert data["format"] == "passerelle-learner-export/1"
    assert data["learner"]["last_name"] == mine.learner.last_name
    assert data["learner"]["email"] == mine.learner.email
    assert data["learner"]["birth_date"] == "2007-05-14"
    assert data["learner"]["class"] == w.class_group.name
    (portfolio,) = data["portfolios"]
    assert portfolio["period"]["name"] == w.period.name
    assert portfolio["liaison_sheet"]["company_name"] == "SARL Zephyrin"
    assert portfolio["journal"][0]["description"] == "Journée avec Zephyrin"
    assert portfolio["journal"][0]["hours"] == 7.5
    sheet = next(s for s in portfolio["sheets"] if s["id"] == mine.sheet.id)
    assert "Zephyrin" in sheet["description"] and sheet["analysis"] == "Analyse Zephyrin"
    assert len(portfolio["sheets"]) == len(w.portfolio.sheets)
    items = {item["key"]: item for item in portfolio["assessment"]["items"]}
    assert items["engagement"]["value"] == "3"
    history = items["comment"]["history"]
    assert [h["value"] for h in history] == ["Bon stage Zephyrin", "Très bon stage, Zephyrin"]
    assert history[1]["previous_value"] == "Bon stage Zephyrin"
    assert data["interim_reviews"][0]["comment"] == "Progrès de Zephyrin"
    assert data["interim_reviews"][0]["positions"][0]["comment"] == "C1 Zephyrin"
    assert {e["action"] for e in data["audit"]} >= {"sheet.created", "assessment.completed"}
    assert len(data["invitations"]) == 1
    # Attachments: the two files under their original name, deduplicated; the link listed.
    names = sorted(n for n in archive.namelist() if n.startswith("files/"))
    assert names == ["files/photo (2).png", "files/photo.png"]
    contents = {archive.read(n) for n in names}
    assert contents == {b"\x89PNG first Zephyrin", b"\x89PNG second Zephyrin"}
    attachments = sheet["attachments"]
    assert {a["file"] for a in attachments if a["kind"] == "file"} == set(names)
    assert any(a["url"] == "https://example.org/Zephyrin" for a in attachments)


def test_export_contains_nothing_of_another_learner(two: Any) -> None:
    w, mine, theirs = two
    data, archive = _export(w.admin, mine.learner)
    everything = json.dumps(data, ensure_ascii=False) + "".join(
        archive.read(n).decode("latin-1") for n in archive.namelist()
    )
    assert "Quillevere" not in everything
    assert theirs.learner.last_name not in everything
    assert str(theirs.learner.email) not in everything
    assert w.other_learner.last_name not in everything


def test_export_includes_free_sheets_and_is_audited(two: Any, f: Any) -> None:
    w, mine, _ = two
    f.free_sheet(mine.learner, title="Stage d'observation", description="Observation")
    data, _archive = _export(w.admin, mine.learner)
    assert [s["title"] for s in data["free_sheets"]] == ["Stage d'observation"]
    entry = f.s.scalar(select(AuditLog).where(AuditLog.action == "learner.exported"))
    assert entry is not None and entry.object_id == mine.learner.id
    assert entry.actor_id == w.admin.id


def test_export_notes_a_missing_file_instead_of_failing(two: Any) -> None:
    w, mine, _ = two
    mine.files[0].unlink()
    data, archive = _export(w.admin, mine.learner)
    sheet = next(s for s in data["portfolios"][0]["sheets"] if s["id"] == mine.sheet.id)
    missing = [a for a in sheet["attachments"] if a["kind"] == "file" and a["file"] is None]
    assert len(missing) == 1 and missing[0]["note"]
    assert len([n for n in archive.namelist() if n.startswith("files/")]) == 1


# --- erasure ---------------------------------------------------------------------------------


def _all_text(exclude_tables: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """Every string and JSON value stored in the database, to search for leftovers."""
    chunks: list[str] = []
    for table in _db.metadata.sorted_tables:
        if table.name in exclude_tables:
            continue
        columns = [
            c for c in table.columns if isinstance(c.type, String | Text) or "JSON" in repr(c.type)
        ]
        if not columns:
            continue
        for row in _db.session.execute(select(*columns)):
            chunks.extend(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
                          for v in row if v is not None)  # fmt: skip
    return "\n".join(chunks)


def test_learner_without_completed_assessment_is_deleted_with_everything(two: Any) -> None:
    w, mine, theirs = two
    learner_id, portfolio_id = mine.learner.id, mine.portfolio.id
    last_name, email = mine.learner.last_name, mine.learner.email
    assert gdpr.preview_erasure(mine.learner).mode == "delete"
    result = gdpr.erase_learner(w.admin, mine.learner)
    _db.session.commit()
    assert result.mode == "deleted" and result.files == 2
    assert _db.session.get(User, learner_id) is None
    assert _db.session.get(Portfolio, portfolio_id) is None
    assert (
        _db.session.scalars(
            select(ActivitySheet).where(ActivitySheet.learner_id == learner_id)
        ).all()
        == []
    )
    assert (
        _db.session.scalars(
            select(InterimReview).where(InterimReview.learner_id == learner_id)
        ).all()
        == []
    )
    assert not any(path.exists() for path in mine.files)
    text = _all_text()
    assert "Zephyrin" not in text
    assert last_name not in text and str(email) not in text
    # The log keeps that it happened, without who it was.
    entry = _db.session.scalar(select(AuditLog).where(AuditLog.action == "learner.deleted"))
    assert entry is not None and entry.object_id == learner_id and entry.learner_id is None
    # The classmate is untouched.
    assert "Quillevere" in text and theirs.learner.last_name in text
    assert all(path.exists() for path in theirs.files)


def test_learner_with_completed_assessment_is_anonymised(two: Any) -> None:
    w, mine, theirs = two
    target = theirs  # has a completed assessment
    learner = target.learner
    learner_id, version = learner.id, learner.session_version
    last_name, email = learner.last_name, learner.email
    assert gdpr.preview_erasure(learner).mode == "anonymise"
    result = gdpr.erase_learner(w.admin, learner)
    _db.session.commit()
    assert result.mode == "anonymised"
    learner = _db.session.get(Learner, learner_id)
    assert learner is not None
    assert learner.full_name == f"Apprenant ANONYMISÉ #{learner_id}"
    assert learner.email is None and learner.birth_date is None and learner.external_id is None
    assert learner.password_hash is None and not learner.is_active
    assert learner.anonymised_at is not None
    assert learner.session_version == version + 1
    # The completed assessment stays, with its ratings, without its comment.
    assessment = _db.session.get(Assessment, target.assessment.id)
    assert assessment is not None and assessment.is_completed
    values = {item.item_key: item.value for item in assessment.items}
    assert values == {"engagement": "3", "comment": None}
    assert all(c.value is None for i in assessment.items if i.kind == "comment" for c in i.history)
    # Free texts are gone, files removed, invitation revoked, receipts deleted.
    sheet = _db.session.get(ActivitySheet, target.sheet.id)
    assert sheet is not None and sheet.description == "" and sheet.analysis == ""
    assert sheet.attachments == []
    assert not any(path.exists() for path in target.files)
    liaison = _db.session.scalar(
        select(LiaisonSheet).where(LiaisonSheet.portfolio_id == target.portfolio.id)
    )
    assert liaison is not None and liaison.company_name == "" and liaison.tutor_email == ""
    invitation = _db.session.scalar(select(Invitation).where(Invitation.user_id == learner_id))
    assert invitation is not None and invitation.revoked_at is not None
    assert _db.session.scalar(select(SyncReceipt).where(SyncReceipt.user_id == learner_id)) is None
    text = _all_text()
    assert "Quillevere" not in text
    assert last_name not in text and str(email) not in text
    # The other learner keeps everything.
    assert "Zephyrin" in text and mine.learner.last_name in text
    assert all(path.exists() for path in mine.files)
    entry = _db.session.scalar(select(AuditLog).where(AuditLog.action == "learner.anonymised"))
    assert entry is not None and entry.actor_id == w.admin.id


def test_files_survive_when_the_erasure_is_rolled_back(two: Any) -> None:
    w, mine, _ = two
    gdpr.erase_learner(w.admin, mine.learner)
    _db.session.rollback()
    assert all(path.exists() for path in mine.files)


def test_anonymised_learner_cannot_be_erased_twice(two: Any) -> None:
    from app.errors import DomainError

    w, _, theirs = two
    gdpr.erase_learner(w.admin, theirs.learner)
    with pytest.raises(DomainError):
        gdpr.erase_learner(w.admin, _db.session.get(Learner, theirs.learner.id))


def test_anonymised_learner_audit_entries_lose_the_name(two: Any) -> None:
    w, _, theirs = two
    learner_id = theirs.learner.id
    gdpr.erase_learner(w.admin, theirs.learner)
    _db.session.flush()
    own = _db.session.scalar(
        select(AuditLog).where(AuditLog.actor_id == learner_id, AuditLog.action == "sheet.created")
    )
    assert own is not None
    assert own.actor_label == f"Apprenant anonymisé #{learner_id}"
    assert own.details["title"] == "[anonymisé]"
