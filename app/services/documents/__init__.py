"""Printable documents (SPEC F10): the pre-agreement (DOCX), the meeting grid, the placement
summary and the level synthesis (PDF).

Each document module loads its data in a fixed number of queries (reusing the services the
pages use), then renders: python-docx for the DOCX, Jinja + WeasyPrint for the PDFs, whose
URL fetcher (fetcher.py) serves only the app's own static files and the school's logo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload, raiseload, selectinload

from app.extensions import db
from app.models import Learner, Period, Portfolio, School


@dataclass(frozen=True)
class SchoolIdentity:
    """What every document shows of the school in its header."""

    name: str
    address_lines: list[str]
    uai: str
    contact: str
    logo: Path | None
    head_name: str = ""  # the head of school, who signs the conventions


def school_identity() -> SchoolIdentity:
    """The school row (1 query), with its logo file when one is stored under UPLOAD_DIR."""
    school = db.session.scalar(select(School).order_by(School.id).limit(1))
    if school is None:
        return SchoolIdentity("Établissement", [], "", "", None)
    city_line = " ".join(part for part in (school.postal_code, school.city) if part)
    lines = [line.strip() for line in school.address.splitlines() if line.strip()]
    if city_line:
        lines.append(city_line)
    contact = " · ".join(part for part in (school.phone, school.email) if part)
    logo = logo_path(school.logo_file)
    return SchoolIdentity(school.name, lines, school.uai or "", contact, logo, school.head_name)


def logo_path(logo_file: str | None) -> Path | None:
    """The stored logo, if it exists under UPLOAD_DIR (never a path outside it)."""
    if not logo_file:
        return None
    root = Path(current_app.config["UPLOAD_DIR"]).resolve()
    path = (root / logo_file).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def portfolios_of(
    *, period: Period | None = None, portfolio: Portfolio | None = None
) -> list[Portfolio]:
    """The portfolios a per-learner document prints: a period's (every learner, by name) or
    one, with what every page shows (period and level, learner and class, liaison sheet, tutor,
    referent teacher) loaded up front: 5 queries."""
    query = (
        select(Portfolio)
        .join(Learner, Portfolio.learner_id == Learner.id)
        .order_by(Learner.last_name, Learner.first_name, Portfolio.id)
        .options(
            joinedload(Portfolio.period).joinedload(Period.level),
            joinedload(Portfolio.learner).joinedload(Learner.class_group),
            selectinload(Portfolio.liaison_sheet),
            selectinload(Portfolio.tutor),
            selectinload(Portfolio.referent_teacher),
            raiseload("*"),
        )
    )
    if portfolio is not None:
        query = query.where(Portfolio.id == portfolio.id)
    elif period is not None:
        query = query.where(Portfolio.period_id == period.id)
    else:
        raise ValueError("a period or a portfolio is required")
    return list(db.session.scalars(query).unique())
