"""Company visits (issue 16): planning, moving, cancelling, the report, the .ics invitation,
and what the lists show ("Mes visites", the period view's marks, the tutor's and learner's
homes). Flush, never commit; the caller sends the invitations after its commit."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import icalendar
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, joinedload, raiseload

from app import access
from app.errors import InvalidInput
from app.extensions import db
from app.models import (
    Learner,
    LiaisonSheet,
    Period,
    Portfolio,
    User,
    Visit,
    VisitReport,
    VisitStatus,
)
from app.models.base import utcnow
from app.timefmt import DAYS, PARIS, fr_date

DURATIONS = (30, 45, 60, 90, 120, 180)
MAX_TEXT = 5000
POSTCODE_TOWN = re.compile(r"\b\d{5}\s+(.+)$")


class VisitInputError(InvalidInput):
    """A planning or report field is wrong; `field` names it so the form shows it next to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- reading ---------------------------------------------------------------------------------


def town_of(address: str) -> str:
    """ "12 rue de la Gare\\n35000 Rennes" → "Rennes" (else the last line of the address)."""
    lines = [line.strip() for line in address.replace(",", "\n").splitlines() if line.strip()]
    for line in reversed(lines):
        if match := POSTCODE_TOWN.search(line):
            return match.group(1).strip()
    return lines[-1] if lines else ""


@dataclass
class VisitLine:
    """One learner of "Mes visites"."""

    portfolio: Portfolio
    visit: Visit | None

    @property
    def learner(self) -> Learner:
        return self.portfolio.learner

    @property
    def liaison(self) -> LiaisonSheet | None:
        return self.portfolio.liaison_sheet

    @property
    def company(self) -> str:
        return self.liaison.company_name if self.liaison else ""

    @property
    def address(self) -> str:
        return self.liaison.company_address if self.liaison else ""

    @property
    def town(self) -> str:
        return town_of(self.address)

    @property
    def tutor_name(self) -> str:
        if self.portfolio.tutor is not None:
            return self.portfolio.tutor.full_name
        return self.liaison.tutor_name if self.liaison else ""

    @property
    def tutor_phone(self) -> str:
        phone = self.liaison.tutor_phone if self.liaison else ""
        if not phone and self.portfolio.tutor is not None:
            phone = self.portfolio.tutor.phone or ""
        return phone

    @property
    def status(self) -> str:
        return self.visit.status if self.visit else VisitStatus.TO_PLAN.value

    @property
    def status_label(self) -> str:
        return self.visit.status_label if self.visit else "À planifier"

    @property
    def planned_start(self) -> datetime | None:
        return self.visit.planned_start if self.visit else None


def tel_href(phone: str) -> str:
    """The tel: link of a French phone number as people type it ("06 12 34 56 78")."""
    digits = re.sub(r"[^\d+]", "", phone)
    return f"tel:{digits}" if digits else ""


def load_my_visits(user: User, today: date, sort: str = "date") -> list[VisitLine]:
    """Every learner the teacher follows in current and coming periods, with the company, the
    tutor and the visit: 1 query."""
    rows = db.session.execute(
        access.followed_portfolios(user)
        .join(Learner, Portfolio.learner_id == Learner.id)
        .outerjoin(LiaisonSheet, LiaisonSheet.portfolio_id == Portfolio.id)
        .outerjoin(Visit, Visit.portfolio_id == Portfolio.id)
        .where(Period.end_date >= today)
        .add_columns(Visit)
        .options(
            contains_eager(Portfolio.period),
            contains_eager(Portfolio.learner).joinedload(Learner.class_group),
            contains_eager(Portfolio.liaison_sheet),
            joinedload(Portfolio.tutor),
            raiseload("*"),
        )
    ).unique()
    lines = [VisitLine(portfolio, visit) for portfolio, visit in rows]
    far = datetime.max.replace(tzinfo=UTC)
    if sort == "ville":
        lines.sort(
            key=lambda v: (v.town.casefold() or "~", v.planned_start or far, v.learner.sort_name)
        )
    else:
        lines.sort(
            key=lambda v: (
                v.planned_start or far,
                v.portfolio.period.start_date,
                v.learner.sort_name,
            )
        )
    return lines


def visit_of(portfolio: Portfolio) -> Visit | None:
    return db.session.scalar(select(Visit).where(Visit.portfolio_id == portfolio.id))


def report_of(portfolio: Portfolio) -> VisitReport | None:
    return db.session.scalar(
        select(VisitReport)
        .where(VisitReport.portfolio_id == portfolio.id)
        .options(joinedload(VisitReport.author))
    )


def reports_for(portfolio_ids: list[int]) -> dict[int, VisitReport]:
    """Reports of several portfolios (the placement summary): 1 query."""
    if not portfolio_ids:
        return {}
    reports = db.session.scalars(
        select(VisitReport)
        .where(VisitReport.portfolio_id.in_(portfolio_ids))
        .options(joinedload(VisitReport.author), raiseload("*"))
    )
    return {report.portfolio_id: report for report in reports}


@dataclass(frozen=True)
class VisitMark:
    """What the period view shows on a learner's folder."""

    status: str
    planned_start: datetime | None

    @property
    def to_plan(self) -> bool:
        return self.status == VisitStatus.TO_PLAN

    @property
    def label(self) -> str:
        if self.status == VisitStatus.PLANNED and self.planned_start is not None:
            local = self.planned_start.astimezone(PARIS)
            return f"Visite le {local:%d/%m} à {local:%H:%M}"
        return {
            VisitStatus.TO_PLAN: "Visite à planifier",
            VisitStatus.DONE: "Visite effectuée",
            VisitStatus.REPORT_WRITTEN: "Compte rendu de visite écrit",
        }.get(VisitStatus(self.status), "Visite à planifier")


TO_PLAN = VisitMark(VisitStatus.TO_PLAN.value, None)


def mark(status: str | None, planned_start: datetime | None) -> VisitMark:
    """The visit mark of a portfolio from its Visit row's columns, outer-joined by the period
    view's folder query (no row: to plan)."""
    return TO_PLAN if status is None else VisitMark(status, planned_start)


def visits_by_portfolio(user: User) -> dict[int, Visit]:
    """The planned or done visits of the portfolios a tutor or learner sees (home pages)."""
    portfolio_ids = access.visible_portfolios(user).with_only_columns(Portfolio.id)
    visits = db.session.scalars(
        select(Visit)
        .where(Visit.portfolio_id.in_(portfolio_ids), Visit.planned_start.is_not(None))
        .options(raiseload("*"))
    )
    return {visit.portfolio_id: visit for visit in visits}


def planned_for_learner(user: User) -> list[tuple[Visit, Period, Learner]]:
    """The coming visits of a learner's (or a tutor's mentees') portfolios, soonest first:
    1 query."""
    rows = db.session.execute(
        select(Visit, Period, Learner)
        .join(Portfolio, Visit.portfolio_id == Portfolio.id)
        .join(Period, Portfolio.period_id == Period.id)
        .join(Learner, Portfolio.learner_id == Learner.id)
        .where(
            Portfolio.id.in_(access.visible_portfolios(user).with_only_columns(Portfolio.id)),
            Visit.status == VisitStatus.PLANNED,
            Visit.planned_start >= utcnow() - timedelta(hours=12),
        )
        .order_by(Visit.planned_start)
    )
    # No raiseload here: the learner row may be current_user itself, whose relationships the
    # rest of the page still loads.
    return [(visit, period, learner) for visit, period, learner in rows.tuples()]


def period_days(period: Period) -> list[date]:
    """The weekdays (Monday to Friday) of a period, offered as quick picks."""
    days, day = [], period.start_date
    while day <= period.end_date:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def day_label(day: date) -> str:
    """ "lun. 07/12"."""
    return f"{DAYS[day.weekday()][:3]}. {day:%d/%m}"


def count_to_plan(user: User, today: date) -> int:
    """How many followed learners of current and coming periods still have no visit planned."""
    query = (
        access.followed_portfolios(user)
        .outerjoin(Visit, Visit.portfolio_id == Portfolio.id)
        .where(Period.end_date >= today)
        .where((Visit.id.is_(None)) | (Visit.status == VisitStatus.TO_PLAN))
        .with_only_columns(func.count(Portfolio.id))
    )
    return int(db.session.scalar(query) or 0)


# --- planning --------------------------------------------------------------------------------


def parse_day(text: str) -> date:
    text = (text or "").strip()
    if not text:
        raise VisitInputError("day", "Choisissez le jour de la visite.")
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise VisitInputError("day", "Saisissez une date valide (jj/mm/aaaa).")


def parse_time(text: str) -> time:
    text = (text or "").strip().replace("h", ":").replace("H", ":")
    if text.endswith(":"):
        text += "00"
    if not text:
        raise VisitInputError("start_time", "Indiquez l'heure de la visite.")
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    raise VisitInputError("start_time", "Saisissez une heure valide (hh:mm), par exemple 10:30.")


def parse_duration(text: str) -> int:
    try:
        minutes = int((text or "").strip())
    except ValueError:
        raise VisitInputError("duration", "Choisissez une durée de la liste.") from None
    if minutes not in DURATIONS:
        raise VisitInputError("duration", "Choisissez une durée de la liste.")
    return minutes


def check_in_period(period: Period, day: date, field: str = "day") -> None:
    if not period.start_date <= day <= period.end_date:
        raise VisitInputError(
            field,
            f"La visite doit avoir lieu pendant la période, du {fr_date(period.start_date)} "
            f"au {fr_date(period.end_date)}.",
        )


def plan_visit(
    portfolio: Portfolio,
    actor: User,
    *,
    day_text: str,
    time_text: str,
    duration_text: str,
    place: str,
    now: datetime | None = None,
) -> Visit:
    """Plan the visit, or move it (SEQUENCE + 1). A new plan cannot be in the past; a move
    can (the teacher records when the visit really took place)."""
    now = now or utcnow()
    day = parse_day(day_text)
    check_in_period(portfolio.period, day)
    start_local = datetime.combine(day, parse_time(time_text), tzinfo=PARIS)
    duration = parse_duration(duration_text)
    place = (place or "").replace("\r\n", "\n").strip()
    if len(place) > 500:
        raise VisitInputError("place", "500 caractères au plus.")
    visit = visit_of(portfolio)
    is_new = visit is None or visit.status == VisitStatus.TO_PLAN or visit.planned_start is None
    start = start_local.astimezone(UTC)
    if is_new and start < now:
        raise VisitInputError(
            "day", "Cette date est passée : choisissez un jour et une heure à venir."
        )
    if visit is None:
        visit = Visit(portfolio_id=portfolio.id, sequence=0, status=VisitStatus.TO_PLAN.value)
        db.session.add(visit)
    elif visit.planned_start != start or visit.duration_minutes != duration or visit.place != place:
        visit.sequence += 1
    visit.planned_start = start
    visit.duration_minutes = duration
    visit.place = place or (
        portfolio.liaison_sheet.company_address if portfolio.liaison_sheet else ""
    )
    visit.cancelled_start = None
    if visit.status == VisitStatus.TO_PLAN:
        visit.status = VisitStatus.PLANNED.value
    visit.planned_by_id = actor.id
    db.session.flush()
    return visit


def cancel_visit(visit: Visit, actor: User) -> Visit:
    """Back to "to plan"; the invitation is cancelled (METHOD:CANCEL, SEQUENCE + 1)."""
    if visit.status != VisitStatus.PLANNED or visit.planned_start is None:
        raise InvalidInput("Aucune visite planifiée à annuler.")
    visit.cancelled_start = visit.planned_start
    visit.planned_start = None
    visit.status = VisitStatus.TO_PLAN.value
    visit.sequence += 1
    visit.planned_by_id = actor.id
    db.session.flush()
    return visit


def mark_done(visit: Visit) -> Visit:
    if visit.status != VisitStatus.PLANNED:
        raise InvalidInput("Seule une visite planifiée peut être marquée comme effectuée.")
    visit.status = VisitStatus.DONE.value
    db.session.flush()
    return visit


def save_report(
    portfolio: Portfolio,
    actor: User,
    *,
    done_on_text: str,
    met: str,
    conditions: str,
    points_to_watch: str,
    today: date,
) -> VisitReport:
    """Write or correct the visit report; the visit becomes "report written"."""
    done_on = parse_day(done_on_text)
    period = portfolio.period
    if done_on > today:
        raise VisitInputError(
            "day", "Le compte rendu porte sur une visite faite : la date ne peut pas être à venir."
        )
    if not period.start_date - timedelta(days=7) <= done_on <= period.end_date + timedelta(days=30):
        raise VisitInputError(
            "day",
            f"La visite doit dater de la période (du {fr_date(period.start_date)} au "
            f"{fr_date(period.end_date)}).",
        )
    texts = {"met": met, "conditions": conditions, "points_to_watch": points_to_watch}
    for name, value in texts.items():
        if len(value or "") > MAX_TEXT:
            raise VisitInputError(name, "5 000 caractères au plus.")
    if not (met or "").strip():
        raise VisitInputError("met", "Indiquez qui vous avez rencontré.")
    report = report_of(portfolio)
    if report is None:
        report = VisitReport(portfolio_id=portfolio.id, done_on=done_on)
        db.session.add(report)
    report.done_on = done_on
    report.met = met.strip()
    report.conditions = (conditions or "").strip()
    report.points_to_watch = (points_to_watch or "").strip()
    report.author_id = actor.id
    visit = visit_of(portfolio)
    if visit is None:
        visit = Visit(portfolio_id=portfolio.id)
        db.session.add(visit)
    visit.status = VisitStatus.REPORT_WRITTEN.value
    db.session.flush()
    return report


# --- the .ics invitation ----------------------------------------------------------------------


def public_base() -> str:
    return (current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")


def build_ics(
    visit: Visit, portfolio: Portfolio, attendees: list[tuple[str, str]], organizer: User | None
) -> bytes:
    """The invitation (METHOD:REQUEST) or its cancellation (METHOD:CANCEL), stable UID,
    SEQUENCE of the visit, times in Europe/Paris with their VTIMEZONE."""
    cancelled = visit.planned_start is None
    start = visit.planned_start or visit.cancelled_start
    assert start is not None, "a visit never planned has no invitation"
    learner = portfolio.learner
    company = portfolio.liaison_sheet.company_name if portfolio.liaison_sheet else ""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Passerelle//Visites//FR")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = icalendar.Event()
    event.add("uid", visit.uid)
    event.add("sequence", visit.sequence)
    event.add("dtstamp", utcnow())
    event.add("dtstart", start.astimezone(PARIS))
    event.add("dtend", (start + timedelta(minutes=visit.duration_minutes)).astimezone(PARIS))
    summary = f"Visite de stage — {learner.full_name}"
    event.add("summary", f"{summary} — {company}" if company else summary)
    if visit.place:
        event.add("location", visit.place.replace("\n", ", "))
    event.add(
        "description",
        f"Visite de l'enseignant référent en entreprise ({portfolio.period.name}).\n"
        f"Bilan entreprise : {public_base()}/portfolios/{portfolio.id}/bilan",
    )
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if organizer is not None and organizer.email:
        address = icalendar.vCalAddress(f"mailto:{organizer.email}")
        address.params["cn"] = icalendar.vText(organizer.full_name)
        event.add("organizer", address)
    for name, email in attendees:
        address = icalendar.vCalAddress(f"mailto:{email}")
        address.params["cn"] = icalendar.vText(name)
        address.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        event.add("attendee", address)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def load_for_ics(visit: Visit) -> Portfolio:
    portfolio = db.session.scalar(
        select(Portfolio)
        .where(Portfolio.id == visit.portfolio_id)
        .options(
            joinedload(Portfolio.period),
            joinedload(Portfolio.learner),
            joinedload(Portfolio.tutor),
            joinedload(Portfolio.liaison_sheet),
            joinedload(Portfolio.referent_teacher),
        )
    )
    assert portfolio is not None
    return portfolio


def invitation_recipients(portfolio: Portfolio) -> list[tuple[User | None, str, str]]:
    """(account, name, e-mail) of the tutor and the learner; the liaison sheet's tutor e-mail
    when the tutor has no account yet."""
    people: list[tuple[User | None, str, str]] = []
    tutor = portfolio.tutor
    if tutor is not None and tutor.email:
        people.append((tutor, tutor.full_name, tutor.email))
    elif portfolio.liaison_sheet and portfolio.liaison_sheet.tutor_email:
        sheet = portfolio.liaison_sheet
        people.append((None, sheet.tutor_name or "Tuteur", sheet.tutor_email))
    if portfolio.learner.email:
        people.append((portfolio.learner, portfolio.learner.full_name, portfolio.learner.email))
    return people


def ics_filename(portfolio: Portfolio) -> str:
    """ASCII only (it goes in a header): "visite-nguyen-12.ics"."""
    ascii_name = unicodedata.normalize("NFKD", portfolio.learner.last_name)
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.encode("ascii", "ignore").decode().lower())
    return f"visite-{slug.strip('-') or 'apprenant'}-{portfolio.id}.ics"
