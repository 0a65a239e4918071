"""Learners' personal data (GDPR): the registry of where it lives, the export (right of
access and portability) and the erasure (right to erasure).

`PERSONAL_DATA` maps every model (or association table) that holds personal data to how the
export covers it and what the erasure does with it. tests/test_personal_data_registry.py
fails when a model with personal-looking columns is missing from it, or when one of its
personal columns is not listed, so a new model cannot silently escape both.

Erasure has two outcomes:
- **deletion** when the learner has no completed assessment: the account row goes and the
  database cascades take their portfolios, sheets, journal, liaison sheets, draft
  assessments, interim reviews and invitations with it;
- **anonymisation** otherwise: completed assessments are kept for the school's statistics
  (ratings, dates), but the account no longer identifies anyone (name replaced, e-mail,
  phone, birth date and INE cleared, password removed, sessions ended, invitations revoked)
  and every free text they or others wrote about them is cleared.
In both cases their uploaded files are deleted from disk once the transaction commits, and
the audit log keeps who did what without the learner's name.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.errors import DomainError
from app.extensions import db
from app.models import (
    ActivitySheet,
    Assessment,
    AssessmentItem,
    AssessmentItemChange,
    AssessmentStatus,
    Attachment,
    Attestation,
    AuditLog,
    ClassGroup,
    Competency,
    Convention,
    Criterion,
    IdentityLink,
    IdentityProvider,
    InterimReview,
    InterimReviewPosition,
    Invitation,
    ItemKind,
    JournalEntry,
    Learner,
    Level,
    LiaisonSheet,
    LoginAttempt,
    NotificationPreference,
    PedagogicalAnnex,
    Period,
    Portfolio,
    PushSubscription,
    School,
    SentNotification,
    SheetRead,
    SheetTask,
    SyncReceipt,
    User,
    Visit,
    VisitReport,
)
from app.models.base import utcnow
from app.models.school import teacher_levels
from app.services import attachments, audit

EXPORT_FORMAT = "passerelle-learner-export/1"


# --- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalData:
    """How one model's personal data is handled.

    `columns`: the columns holding personal data (of the learner, or of the staff and tutors
    who deal with them); `export`: where data.json holds them ("" when not exported, and
    `note` says why); `erase`: what the erasure of a learner does to them."""

    columns: tuple[str, ...]
    export: str
    erase: str
    note: str = ""


PERSONAL_DATA: dict[Any, PersonalData] = {
    User: PersonalData(
        columns=("first_name", "last_name", "email", "phone", "birth_date", "external_id",
                 "password_hash", "last_login_at", "created_at", "class_group_id",
                 "learner_status", "company_name", "job_title", "created_by_id"),
        export="learner",
        erase="anonymised: name replaced by « Apprenant anonymisé #id », e-mail, phone, birth "
        "date, INE and password cleared, sessions ended; or the row deleted",
        note="tutors' company_name/job_title and created_by_id concern staff and mentors",
    ),
    Invitation: PersonalData(
        columns=("user_id", "created_by_id", "token_hash"),
        export="invitations",
        erase="revoked (anonymisation) or deleted with the account",
    ),
    LoginAttempt: PersonalData(
        columns=("key",),
        export="",
        erase="deleted for the learner's e-mail address",
        note="security counter kept for the throttling window only",
    ),
    Portfolio: PersonalData(
        columns=("learner_id", "referent_teacher_id", "tutor_id"),
        export="portfolios[]",
        erase="kept, linked to the anonymised account; or deleted (cascade)",
    ),
    LiaisonSheet: PersonalData(
        columns=("company_name", "company_siret", "company_address", "company_phone",
                 "tutor_name", "tutor_role", "tutor_email", "tutor_phone", "objectives",
                 "activities", "updated_by_id"),
        export="portfolios[].liaison_sheet",
        erase="every text cleared; or deleted (cascade)",
    ),
    ActivitySheet: PersonalData(
        columns=("learner_id", "title", "company", "description", "analysis"),
        export="portfolios[].sheets[], free_sheets[]",
        erase="texts cleared (titles of week sheets kept: they are only the week); or deleted",
    ),
    SheetTask: PersonalData(
        columns=("confirmed_by_id",),
        export="…sheets[].tasks[]",
        erase="kept (framework links); or deleted with the sheet",
    ),
    SheetRead: PersonalData(
        columns=("teacher_id",),
        export="",
        erase="kept; or deleted with the sheet",
        note="when a teacher read a sheet: the teacher's data, not the learner's",
    ),
    Attachment: PersonalData(
        columns=("original_name", "stored_name", "url"),
        export="…sheets[].attachments[] and files/",
        erase="rows deleted and files removed from disk after the commit",
    ),
    JournalEntry: PersonalData(
        columns=("description",),
        export="portfolios[].journal[]",
        erase="description cleared (dates and hours kept); or deleted",
    ),
    Assessment: PersonalData(
        columns=("completed_by_id",),
        export="portfolios[].assessment",
        erase="kept anonymised for statistics; or deleted when none is completed",
    ),
    AssessmentItem: PersonalData(
        columns=("value", "conflict_value", "author_id"),
        export="portfolios[].assessment.items[]",
        erase="comment values cleared, ratings kept",
    ),
    AssessmentItemChange: PersonalData(
        columns=("value", "previous_value", "author_id"),
        export="portfolios[].assessment.items[].history[]",
        erase="comment values cleared, ratings kept",
    ),
    SyncReceipt: PersonalData(
        columns=("user_id", "receipt"),
        export="",
        erase="deleted for the learner's own changes",
        note="technical replay receipts of offline changes",
    ),
    InterimReview: PersonalData(
        columns=("learner_id", "teacher_id", "comment"),
        export="interim_reviews[]",
        erase="comment cleared, positions kept; or deleted (cascade)",
    ),
    InterimReviewPosition: PersonalData(
        columns=("value", "comment"),
        export="interim_reviews[].positions[]",
        erase="comment cleared, value kept",
    ),
    AuditLog: PersonalData(
        columns=("actor_id", "actor_label", "learner_id", "details"),
        export="audit[]",
        erase="kept for accountability; the learner's name is replaced in labels and details",
    ),
    Convention: PersonalData(
        columns=("company_representative", "company_representative_role", "guardian_name",
                 "guardian_address", "guardian_phone", "guardian_email", "company_insurer",
                 "company_policy", "company_signed_on", "company_recorded_by_id",
                 "family_recorded_by_id",
                 "head_recorded_by_id", "scan_stored_name", "scan_original_name",
                 "scan_uploaded_by_id"),
        export="portfolios[].convention and files/",
        erase="deleted, scan removed from disk after the commit; or deleted (cascade)",
    ),
    Attestation: PersonalData(
        columns=("absence_reason", "absence_dates", "signer_name", "recorded_by_id",
                 "signed_by_id"),
        export="portfolios[].attestation",
        erase="deleted; or deleted (cascade)",
    ),
    Visit: PersonalData(
        columns=("planned_by_id", "place"),
        export="",
        erase="place cleared (anonymisation); or deleted with the portfolio (cascade)",
        note="when and where the teacher visits the company; not in data.json yet",
    ),
    VisitReport: PersonalData(
        columns=("author_id", "met", "conditions", "points_to_watch"),
        export="",
        erase="deleted (anonymisation), or with the portfolio (cascade)",
        note="the teacher's visit report; not in data.json yet",
    ),
    NotificationPreference: PersonalData(
        columns=("user_id",),
        export="",
        erase="deleted",
        note="which reminders the person wants: settings, not content",
    ),
    SentNotification: PersonalData(
        columns=("user_id", "recipient", "subject", "key"),
        export="",
        erase="deleted",
        note="technical record of reminders sent (idempotence, retries)",
    ),
    PushSubscription: PersonalData(
        columns=("user_id", "endpoint", "p256dh", "auth", "user_agent"),
        export="",
        erase="deleted",
        note="a device's push address: technical, useless outside the app",
    ),
    # Not about learners: the school's own data and staff references, listed so the registry
    # test knows they were considered.
    School: PersonalData(
        columns=("name", "address", "phone", "email", "head_name"),
        export="",
        erase="kept",
        note="the school's public contact details",
    ),
    Level: PersonalData(columns=("name",), export="learner.level", erase="kept",
                        note="name of a class level, not personal"),
    ClassGroup: PersonalData(columns=("name",), export="learner.class", erase="kept",
                             note="name of a class, not personal"),
    Period: PersonalData(
        columns=("name", "objectives", "activities", "created_by_id"),
        export="portfolios[].period", erase="kept",
        note="the period concerns the whole class",
    ),
    PedagogicalAnnex: PersonalData(
        columns=("name", "objectives", "activities", "created_by_id"),
        export="", erase="kept",
        note="a teacher's template for a level, nothing about a learner",
    ),
    teacher_levels: PersonalData(
        columns=("teacher_id",), export="", erase="kept", note="staff assignments",
    ),
    IdentityLink: PersonalData(
        columns=("user_id", "subject"),
        export="",
        erase="deleted (anonymisation) or with the account (cascade)",
        note="the ENT's identifier of the account, used only to sign in",
    ),
    IdentityProvider: PersonalData(
        columns=("label", "server_url", "email_claim"), export="", erase="kept",
        note="the school's ENT settings, nothing about a person",
    ),
}  # fmt: skip


def registry_table(key: Any) -> Table:
    """The table of a registry key (a model class or an association Table)."""
    return key if isinstance(key, Table) else key.__table__


# --- export ----------------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _name_of(user: User | None) -> str | None:
    return user.full_name if user is not None else None


def _zip_name(name: str, used: set[str]) -> str:
    """A safe, unique file name inside the archive's files/ folder."""
    clean = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in clean if unicodedata.category(ch)[0] != "C").strip(" .")
    clean = clean[:150] or "fichier"
    stem, dot, ext = clean.rpartition(".")
    if not dot:
        stem, ext = clean, ""
    candidate, n = clean, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
    used.add(candidate.lower())
    return candidate


@dataclass
class _ExportFile:
    arcname: str
    path: Any  # pathlib.Path


def collect_learner_data(learner: Learner) -> tuple[dict[str, Any], list[_ExportFile]]:
    """Everything about one learner, as a JSON-ready dict, and the files to add. Every query
    filters on this learner's id, so nothing of another learner can slip in."""
    portfolios = list(
        db.session.scalars(
            select(Portfolio)
            .where(Portfolio.learner_id == learner.id)
            .options(
                joinedload(Portfolio.period).joinedload(Period.level),
                joinedload(Portfolio.referent_teacher),
                joinedload(Portfolio.tutor),
                joinedload(Portfolio.liaison_sheet),
                selectinload(Portfolio.journal_entries).selectinload(JournalEntry.tasks),
                selectinload(Portfolio.assessment).selectinload(Assessment.modes),
                selectinload(Portfolio.assessment)
                .selectinload(Assessment.items)
                .options(
                    joinedload(AssessmentItem.author),
                    selectinload(AssessmentItem.history).joinedload(AssessmentItemChange.author),
                ),
            )
            .order_by(Portfolio.id)
        ).unique()
    )
    sheets = list(
        db.session.scalars(
            select(ActivitySheet)
            .where(ActivitySheet.learner_id == learner.id)
            .options(
                joinedload(ActivitySheet.activity),
                selectinload(ActivitySheet.tasks).joinedload(SheetTask.task),
                selectinload(ActivitySheet.competencies),
                selectinload(ActivitySheet.criteria),
                selectinload(ActivitySheet.attachments),
            )
            .order_by(ActivitySheet.portfolio_id, ActivitySheet.position, ActivitySheet.id)
        ).unique()
    )
    reviews = list(
        db.session.scalars(
            select(InterimReview)
            .where(InterimReview.learner_id == learner.id)
            .options(
                joinedload(InterimReview.teacher),
                selectinload(InterimReview.positions),
                selectinload(InterimReview.assessments),
            )
            .order_by(InterimReview.review_date, InterimReview.id)
        ).unique()
    )
    # Codes of the framework entries referred to by ids (sheets, items, reviews).
    competency_ids: set[int] = set()
    criterion_ids: set[int] = set()
    for sheet in sheets:
        competency_ids |= {c.competency_id for c in sheet.competencies}
        criterion_ids |= {c.criterion_id for c in sheet.criteria}
    for portfolio in portfolios:
        if portfolio.assessment is not None:
            competency_ids |= {
                i.competency_id for i in portfolio.assessment.items if i.competency_id
            }
            criterion_ids |= {i.criterion_id for i in portfolio.assessment.items if i.criterion_id}
            competency_ids |= {m.competency_id for m in portfolio.assessment.modes}
    for review in reviews:
        competency_ids |= {p.competency_id for p in review.positions}
    competencies = {
        c.id: c
        for c in db.session.scalars(
            select(Competency).where(Competency.id.in_(competency_ids or {-1}))
        )
    }
    criteria = {
        c.id: c
        for c in db.session.scalars(
            select(Criterion).where(Criterion.id.in_(criterion_ids or {-1}))
        )
    }
    confirmers = {
        t.confirmed_by_id for s in sheets for t in s.tasks if t.confirmed_by_id is not None
    }
    staff = {
        u.id: u.full_name
        for u in db.session.scalars(select(User).where(User.id.in_(confirmers or {-1})))
    }

    def comp(cid: int | None) -> dict[str, Any] | None:
        c = competencies.get(cid or -1)
        return {"code": c.code, "title": c.title} if c else None

    def crit(cid: int | None) -> dict[str, Any] | None:
        c = criteria.get(cid or -1)
        return {"code": c.code, "title": c.title} if c else None

    files: list[_ExportFile] = []
    used_names: set[str] = set()

    def sheet_data(sheet: ActivitySheet) -> dict[str, Any]:
        attachments_data = []
        for attachment in sheet.attachments:
            entry: dict[str, Any] = {
                "kind": attachment.kind,
                "name": attachment.original_name,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "url": attachment.url or None,
                "added_at": _iso(attachment.created_at),
            }
            path = attachments.file_path(attachment)
            if path is not None and path.is_file():
                arcname = "files/" + _zip_name(attachment.original_name, used_names)
                files.append(_ExportFile(arcname, path))
                entry["file"] = arcname
            elif attachment.kind == "file":
                entry["file"] = None
                entry["note"] = "fichier introuvable sur le serveur"
            attachments_data.append(entry)
        return {
            "id": sheet.id,
            "kind": sheet.kind,
            "title": sheet.title,
            "iso_year": sheet.iso_year,
            "iso_week": sheet.iso_week,
            "company": sheet.company,
            "conditions": sheet.conditions,
            "activity": (
                {"code": sheet.activity.code, "title": sheet.activity.title}
                if sheet.activity
                else None
            ),
            "description": sheet.description,
            "analysis": sheet.analysis,
            "created_at": _iso(sheet.created_at),
            "learner_updated_at": _iso(sheet.learner_updated_at),
            "updated_at": _iso(sheet.updated_at),
            "tasks": [
                {
                    "code": t.task.code,
                    "title": t.task.title,
                    "ticked_by_learner": t.ticked_by_learner,
                    "confirmed_by": staff.get(t.confirmed_by_id or -1),
                    "confirmed_at": _iso(t.confirmed_at),
                }
                for t in sheet.tasks
            ],
            "competencies": [
                {"competency": comp(c.competency_id), "mode": c.mode} for c in sheet.competencies
            ],
            "criteria": [{"criterion": crit(c.criterion_id)} for c in sheet.criteria],
            "attachments": attachments_data,
        }

    sheets_by_portfolio: dict[int | None, list[dict[str, Any]]] = {}
    for sheet in sheets:
        sheets_by_portfolio.setdefault(sheet.portfolio_id, []).append(sheet_data(sheet))

    def assessment_data(assessment: Assessment | None) -> dict[str, Any] | None:
        if assessment is None:
            return None
        return {
            "id": assessment.id,
            "status": assessment.status,
            "completed_at": _iso(assessment.completed_at),
            "created_at": _iso(assessment.created_at),
            "updated_at": _iso(assessment.updated_at),
            "competency_modes": [
                {"competency": comp(m.competency_id), "mode": m.mode} for m in assessment.modes
            ],
            "items": [
                {
                    "key": item.item_key,
                    "kind": item.kind,
                    "competency": comp(item.competency_id),
                    "criterion": crit(item.criterion_id),
                    "value": item.value,
                    "version": item.version,
                    "author": _name_of(item.author),
                    "author_role": item.author_role,
                    "device_time": _iso(item.device_time),
                    "server_time": _iso(item.server_time),
                    "history": [
                        {
                            "value": change.value,
                            "previous_value": change.previous_value,
                            "outcome": change.outcome,
                            "author": _name_of(change.author),
                            "author_role": change.author_role,
                            "device_time": _iso(change.device_time),
                            "server_time": _iso(change.server_time),
                            "offline": change.via_sync,
                        }
                        for change in item.history
                    ],
                }
                for item in sorted(assessment.items, key=lambda i: i.item_key)
            ],
        }

    def liaison_data(sheet: LiaisonSheet | None) -> dict[str, Any] | None:
        if sheet is None:
            return None
        return {
            "company_name": sheet.company_name,
            "company_siret": sheet.company_siret,
            "company_address": sheet.company_address,
            "company_phone": sheet.company_phone,
            "tutor_name": sheet.tutor_name,
            "tutor_role": sheet.tutor_role,
            "tutor_email": sheet.tutor_email,
            "tutor_phone": sheet.tutor_phone,
            "objectives": sheet.objectives,
            "activities": sheet.activities,
            "updated_at": _iso(sheet.updated_at),
        }

    portfolio_ids = [p.id for p in portfolios] or [-1]
    conventions = {
        c.portfolio_id: c
        for c in db.session.scalars(
            select(Convention).where(Convention.portfolio_id.in_(portfolio_ids))
        )
    }
    attestations = {
        a.portfolio_id: a
        for a in db.session.scalars(
            select(Attestation).where(Attestation.portfolio_id.in_(portfolio_ids))
        )
    }

    def convention_data(convention: Convention | None) -> dict[str, Any] | None:
        if convention is None:
            return None
        entry: dict[str, Any] = {
            column: getattr(convention, column)
            for column in (
                "state", "company_representative", "company_representative_role",
                "guardian_name", "guardian_address", "guardian_phone", "guardian_email",
                "daily_schedule", "weekly_hours", "transport", "meals", "lodging",
                "company_insurer", "company_policy", "school_insurer",
            )
        }  # fmt: skip
        for prefix in ("company", "family", "head"):
            entry[f"{prefix}_signed_on"] = _iso(getattr(convention, f"{prefix}_signed_on"))
        path = attachments.stored_file_path(convention.scan_stored_name)
        if path is not None and path.is_file():
            arcname = "files/" + _zip_name(convention.scan_original_name, used_names)
            files.append(_ExportFile(arcname, path))
            entry["scan"] = arcname
        return entry

    def attestation_data(attestation: Attestation | None) -> dict[str, Any] | None:
        if attestation is None:
            return None
        return {
            "days_done": attestation.days_done,
            "absence_days": attestation.absence_days,
            "absence_dates": [_iso(d) for d in attestation.absence_date_list],
            "absence_reason": attestation.absence_reason,
            "signer_name": attestation.signer_name,
            "signed_at": _iso(attestation.signed_at),
        }

    portfolios_data = []
    for portfolio in portfolios:
        period = portfolio.period
        tutor = portfolio.tutor
        portfolios_data.append(
            {
                "id": portfolio.id,
                "period": {
                    "name": period.name,
                    "level": period.level.name,
                    "start_date": _iso(period.start_date),
                    "end_date": _iso(period.end_date),
                },
                "referent_teacher": _name_of(portfolio.referent_teacher),
                "tutor": (
                    {
                        "name": tutor.full_name,
                        "kind": tutor.tutor_kind,
                        "company": tutor.company_name,
                    }
                    if tutor
                    else None
                ),
                "liaison_sheet": liaison_data(portfolio.liaison_sheet),
                "journal": [
                    {
                        "date": _iso(entry.entry_date),
                        "hours": entry.hours,
                        "description": entry.description,
                        "tasks": [task.code for task in entry.tasks],
                    }
                    for entry in portfolio.journal_entries
                ],
                "sheets": sheets_by_portfolio.get(portfolio.id, []),
                "assessment": assessment_data(portfolio.assessment),
                "convention": convention_data(conventions.get(portfolio.id)),
                "attestation": attestation_data(attestations.get(portfolio.id)),
            }
        )

    group = learner.class_group
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(utcnow()),
        "learner": {
            "id": learner.id,
            "first_name": learner.first_name,
            "last_name": learner.last_name,
            "email": learner.email,
            "phone": learner.phone,
            "birth_date": _iso(learner.birth_date),
            "status": learner.learner_status,
            "class": group.name if group else None,
            "level": group.level.name if group else None,
            "external_id": learner.external_id,
            "account_active": learner.is_active_account,
            "created_at": _iso(learner.created_at),
            "last_login_at": _iso(learner.last_login_at),
            "anonymised_at": _iso(learner.anonymised_at),
        },
        "portfolios": portfolios_data,
        "free_sheets": sheets_by_portfolio.get(None, []),
        "interim_reviews": [
            {
                "date": _iso(review.review_date),
                "teacher": _name_of(review.teacher),
                "comment": review.comment,
                "created_at": _iso(review.created_at),
                "assessments": [a.id for a in review.assessments],
                "positions": [
                    {"competency": comp(p.competency_id), "value": p.value, "comment": p.comment}
                    for p in review.positions
                ],
            }
            for review in reviews
        ],
        "invitations": [
            {
                "created_at": _iso(inv.created_at),
                "expires_at": _iso(inv.expires_at),
                "used_at": _iso(inv.used_at),
                "revoked_at": _iso(inv.revoked_at),
            }
            for inv in db.session.scalars(
                select(Invitation).where(Invitation.user_id == learner.id).order_by(Invitation.id)
            )
        ],
        "audit": [
            {
                "at": _iso(entry.at),
                "actor": entry.actor_label,
                "action": entry.action,
                "object": entry.object_type,
                "object_id": entry.object_id,
                "details": entry.details,
            }
            for entry in db.session.scalars(_audit_about(learner.id).order_by(AuditLog.id))
        ],
    }
    return data, files


def _audit_about(learner_id: int) -> Any:
    """Audit entries about a learner: tagged with them, about their account, or their own
    actions (never an action of theirs tagged with another learner)."""
    return select(AuditLog).where(
        or_(
            AuditLog.learner_id == learner_id,
            (AuditLog.object_type == "user") & (AuditLog.object_id == learner_id),
            (AuditLog.actor_id == learner_id) & AuditLog.learner_id.is_(None),
        )
    )


def export_learner(actor: User, learner: Learner) -> IO[bytes]:
    """A ZIP of the learner's data (`build_export`), audit-logged (`record_export`)."""
    archive = build_export(learner)
    record_export(actor, learner)
    return archive


def record_export(actor: User, learner: Learner) -> None:
    audit.record(actor, "learner.exported", "user", learner.id, learner_id=learner.id)
    db.session.flush()


def build_export(learner: Learner) -> IO[bytes]:
    """A ZIP of the learner's data: data.json and files/ with their attachments (original
    names, deduplicated). Returned as a file object positioned at 0 (spooled to disk when
    large). Reads only: the route records the export once it has the write lock."""
    data, files = collect_learner_data(learner)
    out = tempfile.SpooledTemporaryFile(max_size=20 * 1024 * 1024)  # noqa: SIM115
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "data.json",
            json.dumps(data, ensure_ascii=False, indent=2, default=_json_default),
        )
        archive.writestr("LISEZMOI.txt", _README)
        for item in files:
            archive.write(item.path, item.arcname)
    out.seek(0)
    return out


_README = """Export des données personnelles d'un apprenant (Passerelle)

data.json : toutes les données enregistrées sur l'apprenant : identité, portfolios
(période, fiche de liaison, journal, fiches activités avec leurs liens au référentiel,
bilan entreprise avec l'historique de chaque évaluation), fiches libres, bilans
intermédiaires, invitations et journal des actions le concernant.
files/ : les pièces jointes de ses fiches, sous leur nom d'origine.
"""


def export_filename(learner: Learner) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", learner.last_name).encode(
        "ascii", "ignore").decode().lower()).strip("-")  # fmt: skip
    return f"donnees-{stem or 'apprenant'}-{learner.id}.zip"


# --- erasure ---------------------------------------------------------------------------------

ANONYMOUS_FIRST_NAME = "Apprenant"
_FREE_TEXT_KEYS = {"title", "description", "analysis", "comment", "text", "value", "company"}


@dataclass
class ErasurePreview:
    mode: str  # "delete" | "anonymise"
    portfolios: int
    sheets: int
    files: int
    completed_assessments: int


@dataclass
class ErasureResult:
    mode: str
    learner_id: int
    files: int


def preview_erasure(learner: Learner) -> ErasurePreview:
    """What erasing this learner would do (4 queries)."""
    completed = _completed_assessments(learner.id)
    portfolios = db.session.scalar(
        select(func.count()).select_from(Portfolio).where(Portfolio.learner_id == learner.id)
    )
    sheets = db.session.scalar(
        select(func.count())
        .select_from(ActivitySheet)
        .where(ActivitySheet.learner_id == learner.id)
    )
    return ErasurePreview(
        mode="anonymise" if completed else "delete",
        portfolios=portfolios or 0,
        sheets=sheets or 0,
        files=len(_stored_files(learner.id)),
        completed_assessments=completed,
    )


def _completed_assessments(learner_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Assessment)
            .join(Portfolio, Portfolio.id == Assessment.portfolio_id)
            .where(
                Portfolio.learner_id == learner_id,
                Assessment.status == AssessmentStatus.COMPLETED,
            )
        )
        or 0
    )


def _sheet_ids(learner_id: int) -> Any:
    return select(ActivitySheet.id).where(ActivitySheet.learner_id == learner_id)


def _portfolio_ids(learner_id: int) -> Any:
    return select(Portfolio.id).where(Portfolio.learner_id == learner_id)


def _stored_files(learner_id: int) -> list[str]:
    scans = select(Convention.scan_stored_name).where(
        Convention.portfolio_id.in_(_portfolio_ids(learner_id))
    )
    return [
        name
        for name in db.session.scalars(
            select(Attachment.stored_name)
            .where(Attachment.sheet_id.in_(_sheet_ids(learner_id)), Attachment.kind == "file")
            .union_all(scans)
        )
        if name
    ]


def erase_learner(actor: User, learner: Learner) -> ErasureResult:
    """Delete the learner, or anonymise them when a completed assessment must be kept.
    Their files are removed from disk after the commit. Flushes, never commits."""
    if learner.anonymised_at is not None:
        raise DomainError("Cet apprenant a déjà été anonymisé.")
    learner_id = learner.id
    identifiers = [v for v in (learner.first_name, learner.last_name, learner.email) if v]
    files = _stored_files(learner_id)
    attachments.delete_files_after_commit(files)
    old_email = learner.email
    completed = _completed_assessments(learner_id)

    _scrub_audit(learner_id, identifiers)
    db.session.execute(delete(SyncReceipt).where(SyncReceipt.user_id == learner_id))
    for model in (SentNotification, NotificationPreference, PushSubscription):
        db.session.execute(delete(model).where(model.user_id == learner_id))
    if old_email:
        db.session.execute(delete(LoginAttempt).where(LoginAttempt.key == f"email:{old_email}"))

    if completed == 0:
        mode = "deleted"
        db.session.flush()
        # The database cascades (ON DELETE CASCADE) remove portfolios, sheets, attachments,
        # journal, liaison sheets, draft assessments, interim reviews and invitations.
        db.session.execute(delete(User.__table__).where(User.__table__.c.id == learner_id))
        db.session.expire_all()
    else:
        mode = "anonymised"
        _anonymise(learner)
    audit.record(
        actor,
        f"learner.{mode}",
        "user",
        learner_id,
        learner_id=learner_id if mode == "anonymised" else None,
        files=len(files),
        completed_assessments=completed,
    )
    db.session.flush()
    return ErasureResult(mode=mode, learner_id=learner_id, files=len(files))


def _anonymise(learner: Learner) -> None:
    lid = learner.id
    now = utcnow()
    learner.first_name = ANONYMOUS_FIRST_NAME
    learner.last_name = f"anonymisé #{lid}"
    learner.email = None
    learner.phone = ""
    learner.birth_date = None
    learner.external_id = None
    learner.password_hash = None
    learner.last_login_at = None
    learner.is_active_account = False
    learner.anonymised_at = now
    learner.session_version += 1  # every open session ends

    sheets = _sheet_ids(lid)
    portfolios = _portfolio_ids(lid)
    sync = {"synchronize_session": False}
    db.session.execute(
        delete(Attachment).where(Attachment.sheet_id.in_(sheets)).execution_options(**sync)
    )
    db.session.execute(
        update(ActivitySheet)
        .where(ActivitySheet.learner_id == lid)
        .values(company="", description="", analysis="")
        .execution_options(**sync)
    )
    # Week sheets are titled by their week only; other titles were written by the learner.
    db.session.execute(
        update(ActivitySheet)
        .where(ActivitySheet.learner_id == lid, ActivitySheet.kind != "week")
        .values(title="Fiche anonymisée")
        .execution_options(**sync)
    )
    for paperwork in (Convention, Attestation):  # guardian, absences: nothing for statistics
        db.session.execute(
            delete(paperwork)
            .where(paperwork.portfolio_id.in_(portfolios))
            .execution_options(**sync)
        )
    db.session.execute(
        update(JournalEntry)
        .where(JournalEntry.portfolio_id.in_(portfolios))
        .values(description="")
        .execution_options(**sync)
    )
    db.session.execute(
        delete(VisitReport)
        .where(VisitReport.portfolio_id.in_(portfolios))
        .execution_options(**sync)
    )
    db.session.execute(
        update(Visit)
        .where(Visit.portfolio_id.in_(portfolios))
        .values(place="")
        .execution_options(**sync)
    )
    db.session.execute(
        update(LiaisonSheet)
        .where(LiaisonSheet.portfolio_id.in_(portfolios))
        .values(
            company_name="",
            company_siret="",
            company_address="",
            company_phone="",
            tutor_name="",
            tutor_role="",
            tutor_email="",
            tutor_phone="",
            objectives="",
            activities="",
            objectives_individual=False,
            activities_individual=False,
        )
        .execution_options(**sync)
    )
    assessments = select(Assessment.id).where(Assessment.portfolio_id.in_(portfolios))
    comments = select(AssessmentItem.id).where(
        AssessmentItem.assessment_id.in_(assessments), AssessmentItem.kind == ItemKind.COMMENT
    )
    db.session.execute(
        update(AssessmentItemChange)
        .where(AssessmentItemChange.item_id.in_(comments))
        .values(value=None, previous_value=None)
        .execution_options(**sync)
    )
    db.session.execute(
        update(AssessmentItem)
        .where(AssessmentItem.id.in_(comments))
        .values(value=None, conflict_value=None)
        .execution_options(**sync)
    )
    reviews = select(InterimReview.id).where(InterimReview.learner_id == lid)
    db.session.execute(
        update(InterimReview).where(InterimReview.learner_id == lid).values(comment="")
        .execution_options(**sync)
    )  # fmt: skip
    db.session.execute(
        update(InterimReviewPosition)
        .where(InterimReviewPosition.review_id.in_(reviews))
        .values(comment="")
        .execution_options(**sync)
    )
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.user_id == lid, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None)
        )
        .values(revoked_at=now)
        .execution_options(**sync)
    )
    db.session.execute(
        delete(IdentityLink).where(IdentityLink.user_id == lid).execution_options(**sync)
    )
    db.session.flush()
    # Bulk statements bypassed the identity map: reload what the session may hold.
    db.session.expire_all()


def _scrub_audit(learner_id: int, identifiers: Iterable[str]) -> None:
    """Keep the audit trail, without the learner's name: their own actions are relabelled,
    and names or free texts in the details of entries about them are replaced."""
    words = [w for w in identifiers if len(w) >= 2]
    alternatives = "|".join(re.escape(w) for w in words)
    pattern = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE) if words else None
    label = f"{ANONYMOUS_FIRST_NAME} anonymisé #{learner_id}"

    def scrub(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v, key) for v in value]
        if isinstance(value, str):
            if key in _FREE_TEXT_KEYS and value:
                return "[anonymisé]"
            return pattern.sub("[anonymisé]", value) if pattern else value
        return value

    for entry in db.session.scalars(_audit_about(learner_id)):
        if entry.actor_id == learner_id:
            entry.actor_label = label
        cleaned = scrub(entry.details or {})
        if cleaned != entry.details:
            entry.details = cleaned
