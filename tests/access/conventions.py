"""Conventions and attestations of PFMP (issue 13 §3).

In the world, `tutor` mentors w.portfolio (learner `learner`) and `master` mentors
w.classmate_portfolio. Everyone who sees a portfolio reads and prints its convention and
attestation; only the teachers of the level change the convention; the attendance is recorded
by a teacher or by the tutor of that learner for that period — never another tutor's."""

from __future__ import annotations

import io
from typing import Any

from tests.access import Case, only

READ = only({"teacher": 200, "learner": 200, "tutor": 200})
TEACHER_WRITE = only({"teacher": 303, "learner": 403, "tutor": 403})
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ATTENDANCE = {"days_done": "14", "absence_days": "1", "absence_reason": "Malade"}


def _scan(w: Any, f: Any) -> None:
    """A convention with a stored scan, so its download has something to send."""
    from app.services import conventions

    conventions.attach_scan(
        w.teacher,
        conventions.ensure_convention(w.portfolio),
        io.BytesIO(PDF),
        "convention.pdf",
        conventions.today(),
    )


def _started(w: Any, f: Any) -> None:
    """Periods that began a month ago, whatever the day the suite runs (attendance is
    recorded once a period has started)."""
    from datetime import timedelta

    from app.services.conventions import today

    for period in (w.period, w.other_period):
        period.start_date = today() - timedelta(days=30)
        period.end_date = today() - timedelta(days=12)
    f.s.flush()


def _today(w: Any) -> str:
    from app.services.conventions import today

    return today().isoformat()


def _url(path: str, which: str = "portfolio") -> Any:
    return lambda w: f"/portfolios/{getattr(w, which).id}{path}"


CASES = [
    Case("conventions.convention_page", "GET", _url("/convention"), READ),
    Case(
        "conventions.convention_page",
        "GET",
        _url("/convention", "classmate_portfolio"),
        only({"teacher": 200, "master": 200}),
        note="the master's apprentice",
    ),
    Case(
        "conventions.convention_page",
        "GET",
        _url("/convention", "other_portfolio"),
        only({}),
        note="other level",
    ),
    Case(
        "conventions.convention_page",
        "POST",
        _url("/convention"),
        TEACHER_WRITE,
        data=lambda w: {"company_representative": "Jean Martin", "weekly_hours": "35"},
    ),
    Case(
        "conventions.record_signature",
        "POST",
        _url("/convention/signature"),
        TEACHER_WRITE,
        data=lambda w: {"state": "signed_by_company", "signed_on": _today(w)},
    ),
    Case(
        "conventions.undo_signature",
        "POST",
        _url("/convention/signature/annuler"),
        TEACHER_WRITE,
        data=lambda w: {},
    ),
    Case(
        "conventions.upload_scan",
        "POST",
        _url("/convention/scan"),
        TEACHER_WRITE,
        data=lambda w: {"file": (io.BytesIO(PDF), "scan.pdf"), "signed_on": _today(w)},
    ),
    Case(
        "conventions.upload_scan",
        "POST",
        _url("/convention/scan", "other_portfolio"),
        only({}),
        data=lambda w: {"file": (io.BytesIO(PDF), "scan.pdf"), "signed_on": _today(w)},
        note="other level",
    ),
    Case(
        "conventions.download_scan",
        "GET",
        _url("/convention/scan"),
        only({"teacher": 200}),
        setup=_scan,
    ),
    Case("conventions.convention_docx", "GET", _url("/convention.docx"), READ),
    Case(
        "conventions.convention_docx",
        "GET",
        _url("/convention.docx", "other_portfolio"),
        only({}),
        note="other level",
    ),
    Case("conventions.convention_pdf", "GET", _url("/convention.pdf"), READ),
    Case(
        "conventions.period_conventions_docx",
        "GET",
        lambda w: f"/periodes/{w.period.id}/conventions.docx",
        only({"teacher": 200}),
    ),
    Case(
        "conventions.period_conventions_docx",
        "GET",
        lambda w: f"/periodes/{w.other_period.id}/conventions.docx",
        only({}),
        note="other level",
    ),
    Case(
        "conventions.period_conventions_pdf",
        "GET",
        lambda w: f"/periodes/{w.period.id}/conventions.pdf",
        only({"teacher": 200}),
    ),
    Case("conventions.attendance", "GET", _url("/attestation"), READ),
    Case(
        "conventions.attendance",
        "POST",
        _url("/attestation"),
        only({"teacher": 303, "tutor": 303, "learner": 403}),
        data=lambda w: ATTENDANCE,
        setup=_started,
    ),
    Case(
        "conventions.attendance",
        "POST",
        _url("/attestation", "classmate_portfolio"),
        only({"teacher": 303, "master": 303}),
        data=lambda w: ATTENDANCE,
        setup=_started,
        note="a tutor only for the learner they mentor",
    ),
    Case(
        "conventions.attendance",
        "POST",
        _url("/attestation", "other_portfolio"),
        only({}),
        data=lambda w: ATTENDANCE,
        setup=_started,
        note="other level",
    ),
    Case("conventions.attestation_pdf", "GET", _url("/attestation.pdf"), READ),
    Case(
        "conventions.attestation_pdf",
        "GET",
        _url("/attestation.pdf", "other_portfolio"),
        only({}),
        note="other level",
    ),
    Case(
        "conventions.period_attestations_pdf",
        "GET",
        lambda w: f"/periodes/{w.period.id}/attestations.pdf",
        only({"teacher": 200}),
    ),
    Case(
        "conventions.period_attestations_pdf",
        "GET",
        lambda w: f"/periodes/{w.other_period.id}/attestations.pdf",
        only({}),
        note="other level",
    ),
]
