"""Attestation de PFMP, PDF: the dates, the number of weeks and days completed, the
absences, the activities, the company and the tutor, and the signature. A whole period is
one PDF with a page per learner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload, raiseload, selectinload

from app import timefmt
from app.extensions import db
from app.models import Attestation, Learner, Period, Portfolio
from app.services.attestations import planned_days, weeks_and_days
from app.services.documents import SchoolIdentity
from app.services.documents.pdf import render_pdf


@dataclass(frozen=True)
class AttestationDoc:
    learner_name: str
    birth_date: date | None
    class_name: str
    period_name: str
    start: date
    end: date
    planned_days: int
    recorded: bool
    days_done: int
    completed: str  # "4 semaines et 2 jours"
    absence_days: int
    absence_dates: list[date]
    absence_reason: str
    activities: list[str]
    company: list[tuple[str, str]]
    tutor_name: str
    signer_name: str
    signed_at: datetime | None


def load_attestations(
    *, period: Period | None = None, portfolio: Portfolio | None = None
) -> list[AttestationDoc]:
    """The attestations of a period (by learner name) or of one portfolio: 5 queries."""
    query = (
        select(Portfolio)
        .join(Learner, Portfolio.learner_id == Learner.id)
        .order_by(Learner.last_name, Learner.first_name, Portfolio.id)
        .options(
            joinedload(Portfolio.period),
            joinedload(Portfolio.learner).joinedload(Learner.class_group),
            selectinload(Portfolio.liaison_sheet),
            selectinload(Portfolio.tutor),
            raiseload("*"),
        )
    )
    if portfolio is not None:
        query = query.where(Portfolio.id == portfolio.id)
    elif period is not None:
        query = query.where(Portfolio.period_id == period.id)
    else:
        raise ValueError("a period or a portfolio is required")
    portfolios = list(db.session.scalars(query).unique())
    attestations = {
        a.portfolio_id: a
        for a in db.session.scalars(
            select(Attestation)
            .where(Attestation.portfolio_id.in_([p.id for p in portfolios] or [-1]))
            .options(raiseload("*"))
        )
    }
    return [_doc(p, attestations.get(p.id)) for p in portfolios]


def _doc(portfolio: Portfolio, attestation: Attestation | None) -> AttestationDoc:
    period, learner, sheet, tutor = (
        portfolio.period,
        portfolio.learner,
        portfolio.liaison_sheet,
        portfolio.tutor,
    )
    company_name = (sheet.company_name if sheet else "") or (tutor.company_name if tutor else "")
    tutor_name = (sheet.tutor_name if sheet else "") or (tutor.full_name if tutor else "")
    activities = (sheet.activities if sheet else period.activities) or ""
    days = attestation.days_done if attestation else 0
    return AttestationDoc(
        learner_name=learner.full_name,
        birth_date=learner.birth_date,
        class_name=learner.class_name,
        period_name=period.name,
        start=period.start_date,
        end=period.end_date,
        planned_days=planned_days(period),
        recorded=attestation is not None,
        days_done=days,
        completed=weeks_and_days(days),
        absence_days=attestation.absence_days if attestation else 0,
        absence_dates=attestation.absence_date_list if attestation else [],
        absence_reason=attestation.absence_reason if attestation else "",
        activities=[
            line.strip().lstrip("-•* ") for line in activities.splitlines() if line.strip()
        ],
        company=[
            ("Entreprise", company_name or ""),
            ("N° SIRET", sheet.company_siret if sheet else ""),
            ("Adresse", (sheet.company_address if sheet else "").replace("\n", ", ")),
            ("Tuteur", tutor_name or ""),
            ("Fonction", (sheet.tutor_role if sheet else "") or (tutor.job_title if tutor else "")),
        ],
        tutor_name=tutor_name or "",
        signer_name=attestation.signer_name if attestation else "",
        signed_at=attestation.signed_at if attestation else None,
    )


def attestation_pdf(docs: list[AttestationDoc], school: SchoolIdentity) -> bytes:
    return render_pdf(
        "documents/attestation_pdf.html",
        logo=school.logo,
        school=school,
        docs=docs,
        fr_long_date=timefmt.fr_long_date,
    )
