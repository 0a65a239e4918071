"""Reminders, digests and visit invitations (issue 16), sent by `flask reminders send` and,
for an invitation, right after the teacher plans a visit.

Every message has a key (what it is about: the sheet, the week, the visit and its sequence,
the channel, the person) under a UNIQUE constraint. A message is claimed (its row inserted
and committed) before it is sent, and marked sent or failed after: a second run sends
nothing twice, a failed one (mail server down) is retried by the next run, and nothing
crashes. This module commits: it is the job's unit of work, one message at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    ActivitySheet,
    Channel,
    Learner,
    NotificationKind,
    NotificationPreference,
    Period,
    Portfolio,
    PushSubscription,
    SentNotification,
    SheetKind,
    SheetRead,
    Teacher,
    User,
    Visit,
    VisitStatus,
)
from app.models.base import utcnow
from app.models.school import teacher_levels
from app.services import mail, push
from app.services import visits as visit_service
from app.services.mail import MailAttachment, MailError
from app.timefmt import PARIS, fr_date, fr_long_date

# Monday morning: the learners' reminders and the teachers' digests go from this hour (Paris).
MONDAY_HOUR = 7
MAX_ATTEMPTS = 20

KIND_LABELS = {
    NotificationKind.SHEET_REMINDER: "Rappel le lundi si ma fiche de la semaine passée est vide",
    NotificationKind.TEACHER_DIGEST: "Résumé hebdomadaire des fiches non lues, par période",
    NotificationKind.VISIT_INVITATION: "Invitation (.ics) quand une visite est planifiée, "
    "déplacée ou annulée",
    NotificationKind.VISIT_REMINDER: "Rappel la veille d'une visite, avec le lien vers le bilan",
}
KINDS_BY_ROLE = {
    "learner": [NotificationKind.SHEET_REMINDER, NotificationKind.VISIT_INVITATION],
    "teacher": [NotificationKind.TEACHER_DIGEST],
    "tutor": [NotificationKind.VISIT_INVITATION, NotificationKind.VISIT_REMINDER],
}


# --- preferences -------------------------------------------------------------------------------


def kinds_for(user: User) -> list[NotificationKind]:
    return KINDS_BY_ROLE.get(user.role, [])


def preferences(user: User) -> dict[str, bool]:
    """Every kind of the user's role → on/off (on unless turned off)."""
    rows = dict(
        db.session.execute(
            select(NotificationPreference.kind, NotificationPreference.enabled).where(
                NotificationPreference.user_id == user.id
            )
        ).all()
    )
    return {kind.value: rows.get(kind.value, True) for kind in kinds_for(user)}


def set_preferences(user: User, enabled: set[str]) -> None:
    existing = {
        p.kind: p
        for p in db.session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        )
    }
    for kind in kinds_for(user):
        row = existing.get(kind.value)
        if row is None:
            row = NotificationPreference(user_id=user.id, kind=kind.value)
            db.session.add(row)
        row.enabled = kind.value in enabled
    db.session.flush()


def _turned_off(kind: NotificationKind, user_ids: set[int]) -> set[int]:
    if not user_ids:
        return set()
    return set(
        db.session.scalars(
            select(NotificationPreference.user_id).where(
                NotificationPreference.kind == kind.value,
                NotificationPreference.enabled.is_(False),
                NotificationPreference.user_id.in_(user_ids),
            )
        )
    )


# --- one message --------------------------------------------------------------------------------


@dataclass
class Outgoing:
    key: str
    kind: NotificationKind
    recipient: str  # e-mail address, or the push endpoint
    subject: str
    body: str
    user_id: int | None = None
    channel: Channel = Channel.EMAIL
    attachments: tuple[MailAttachment, ...] = ()
    url: str = ""
    subscription: PushSubscription | None = None


@dataclass
class RunReport:
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, French reason)
    skipped: int = 0  # already sent by an earlier run
    not_configured: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.sent)} envoyé(s), {len(self.failed)} en échec (nouvel essai au prochain "
            f"passage), {self.skipped} déjà envoyé(s)"
            + (f", {self.not_configured} sans serveur configuré" if self.not_configured else "")
            + "."
        )


def _claim(message: Outgoing) -> SentNotification | None:
    """The message's row, inserted and committed if new; None when it was already sent (or
    another run holds it)."""
    row = db.session.scalar(select(SentNotification).where(SentNotification.key == message.key))
    if row is not None:
        if row.sent_at is not None or row.attempts >= MAX_ATTEMPTS:
            return None
        return row
    row = SentNotification(
        key=message.key,
        kind=message.kind.value,
        channel=message.channel.value,
        user_id=message.user_id,
        recipient=message.recipient[:254],
        subject=message.subject[:300],
    )
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent run claimed it first
        db.session.rollback()
        return None
    return row


def deliver(message: Outgoing, report: RunReport) -> None:
    row = _claim(message)
    if row is None:
        report.skipped += 1
        return
    error: str | None = None
    gone = False
    if message.channel == Channel.EMAIL:
        try:
            if not mail.deliver(
                message.recipient, message.subject, message.body, message.attachments
            ):
                error = "Aucun serveur de messagerie n'est configuré (SMTP_HOST)."
                report.not_configured += 1
        except MailError as failure:
            error = failure.message
    else:
        assert message.subscription is not None
        if not push.is_configured():
            error = "Notifications push non configurées (VAPID)."
            report.not_configured += 1
        else:
            result = push.send(message.subscription, message.subject, message.body, message.url)
            error, gone = result.error, result.gone
    row.attempts += 1
    if error is None:
        row.sent_at, row.error = utcnow(), None
        report.sent.append(message.key)
    else:
        row.error = error
        report.failed.append((message.key, error))
    if gone and message.subscription is not None:
        db.session.delete(message.subscription)
        row.sent_at = utcnow()  # nobody to retry for
    db.session.commit()


def _already_sent(keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(
        db.session.scalars(
            select(SentNotification.key).where(
                SentNotification.key.in_(keys),
                or_(
                    SentNotification.sent_at.is_not(None),
                    SentNotification.attempts >= MAX_ATTEMPTS,
                ),
            )
        )
    )


# --- what is due --------------------------------------------------------------------------------


def _link(path: str) -> str:
    return f"{visit_service.public_base()}{path}"


def _monday_of(now: datetime) -> date | None:
    """The Monday of this week once its reminders may go (Monday 07:00 Paris onwards)."""
    local = now.astimezone(PARIS)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, time(MONDAY_HOUR), tzinfo=PARIS):
        return None
    return monday


def due_sheet_reminders(now: datetime) -> Iterator[Outgoing]:
    """A learner whose sheet of the past ISO week is still empty: one e-mail, and one push per
    subscribed device, from Monday morning."""
    monday = _monday_of(now)
    if monday is None:
        return
    past = (monday - timedelta(days=7)).isocalendar()
    sheets = list(
        db.session.scalars(
            select(ActivitySheet)
            .join(Portfolio, ActivitySheet.portfolio_id == Portfolio.id)
            .join(Period, Portfolio.period_id == Period.id)
            .where(
                ActivitySheet.kind == SheetKind.WEEK,
                ActivitySheet.iso_year == past.year,
                ActivitySheet.iso_week == past.week,
                func.trim(func.coalesce(ActivitySheet.description, "")) == "",
            )
            .options(joinedload(ActivitySheet.learner))
        )
    )
    off = _turned_off(NotificationKind.SHEET_REMINDER, {s.learner_id for s in sheets})
    sheets = [s for s in sheets if s.learner_id not in off and s.learner.is_active]
    devices = push.subscriptions_of([s.learner_id for s in sheets])
    for sheet in sheets:
        learner: Learner = sheet.learner
        url = _link(f"/fiches/{sheet.id}/fiche")
        subject = f"Votre fiche de la semaine {past.week} est encore vide"
        body = (
            f"Bonjour {learner.first_name},\n\n"
            f"Votre fiche activité de la semaine {past.week} [{past.year}] n'est pas encore "
            f"écrite. Prenez quelques minutes pour décrire ce que vous avez fait en entreprise "
            f"cette semaine-là :\n{url}\n\n"
            "Vous pouvez désactiver ce rappel dans Mon compte › Mes notifications :\n"
            f"{_link('/compte/notifications')}\n\n— Passerelle"
        )
        if learner.email:
            yield Outgoing(
                f"sheet:{sheet.id}:email:{learner.id}",
                NotificationKind.SHEET_REMINDER,
                learner.email,
                subject,
                body,
                learner.id,
            )
        for device in devices.get(learner.id, []):
            yield Outgoing(
                f"sheet:{sheet.id}:push:{device.id}",
                NotificationKind.SHEET_REMINDER,
                device.endpoint,
                "Fiche de la semaine à écrire",
                f"Votre fiche de la semaine {past.week} est encore vide.",
                learner.id,
                Channel.PUSH,
                url=url,
                subscription=device,
            )


def due_teacher_digests(now: datetime) -> Iterator[Outgoing]:
    """Each teacher, once a week: per current (or just ended) period of their levels, how many
    written sheets they have not read."""
    monday = _monday_of(now)
    if monday is None:
        return
    iso = monday.isocalendar()
    since = monday - timedelta(days=7)
    read = SheetRead.__table__.alias("r")
    rows = db.session.execute(
        select(teacher_levels.c.teacher_id, Period, func.count(ActivitySheet.id))
        .join(Period, Period.level_id == teacher_levels.c.level_id)
        .join(Portfolio, Portfolio.period_id == Period.id)
        .join(ActivitySheet, ActivitySheet.portfolio_id == Portfolio.id)
        .outerjoin(
            read,
            and_(
                read.c.sheet_id == ActivitySheet.id,
                read.c.teacher_id == teacher_levels.c.teacher_id,
            ),
        )
        .where(
            Period.start_date <= monday,
            Period.end_date >= since,
            func.trim(func.coalesce(ActivitySheet.description, "")) != "",
            ActivitySheet.learner_updated_at.is_not(None),
            or_(read.c.read_at.is_(None), read.c.read_at < ActivitySheet.learner_updated_at),
        )
        .group_by(teacher_levels.c.teacher_id, Period.id)
        .order_by(teacher_levels.c.teacher_id, Period.start_date)
    ).all()
    by_teacher: dict[int, list[tuple[Period, int]]] = {}
    for teacher_id, period, count in rows:
        by_teacher.setdefault(teacher_id, []).append((period, int(count)))
    off = _turned_off(NotificationKind.TEACHER_DIGEST, set(by_teacher))
    teachers = {
        t.id: t
        for t in db.session.scalars(select(Teacher).where(Teacher.id.in_(set(by_teacher) - off)))
    }
    for teacher_id, periods in by_teacher.items():
        teacher = teachers.get(teacher_id)
        if teacher is None or not teacher.email or not teacher.is_active:
            continue
        total = sum(count for _p, count in periods)
        lines = [
            f"- {period.name} (du {fr_date(period.start_date)} au {fr_date(period.end_date)}) : "
            f"{count} fiche{'s' if count > 1 else ''} non lue{'s' if count > 1 else ''}\n"
            f"  {_link(f'/periodes/{period.id}')}"
            for period, count in periods
        ]
        yield Outgoing(
            f"digest:{teacher.id}:{iso.year}-W{iso.week:02d}",
            NotificationKind.TEACHER_DIGEST,
            teacher.email,
            f"{total} fiche{'s' if total > 1 else ''} à lire cette semaine",
            f"Bonjour {teacher.first_name},\n\nVoici les fiches activités écrites par vos "
            f"apprenants que vous n'avez pas encore lues :\n\n" + "\n".join(lines) + "\n\n"
            f"Désactiver ce résumé : {_link('/compte/notifications')}\n\n— Passerelle",
            teacher.id,
        )


def _visit_when(visit: Visit) -> str:
    start = visit.planned_start or visit.cancelled_start
    assert start is not None
    local = start.astimezone(PARIS)
    return f"{fr_long_date(local.date())} à {local:%H:%M}"


def invitation_messages(visit: Visit, portfolio: Portfolio) -> list[Outgoing]:
    """The .ics invitation (or its cancellation) of the visit's current sequence, for the tutor
    and the learner who did not turn it off."""
    people = visit_service.invitation_recipients(portfolio)
    if not people or (visit.planned_start is None and visit.cancelled_start is None):
        return []
    off = _turned_off(NotificationKind.VISIT_INVITATION, {u.id for u, _n, _e in people if u})
    attendees = [(name, email) for _u, name, email in people]
    organizer = portfolio.referent_teacher or visit.planned_by
    ics = visit_service.build_ics(visit, portfolio, attendees, organizer)
    cancelled = visit.planned_start is None
    method = "CANCEL" if cancelled else "REQUEST"
    attachment = MailAttachment(
        "annulation-visite.ics" if cancelled else "visite.ics",
        ics,
        "text",
        "calendar",
        (("method", method),),
    )
    learner = portfolio.learner
    company = portfolio.liaison_sheet.company_name if portfolio.liaison_sheet else ""
    teacher = organizer.full_name if organizer else "L'enseignant référent"
    when = _visit_when(visit)
    messages = []
    for user, name, email in people:
        if user is not None and user.id in off:
            continue
        if cancelled:
            subject = f"Visite annulée — {learner.full_name}"
            text = (
                f"Bonjour {name},\n\n{teacher} a annulé la visite prévue le {when} pour "
                f"{learner.full_name}{' chez ' + company if company else ''}. Une nouvelle date "
                "vous sera proposée.\n\nL'annulation est jointe (fichier .ics) : ouvrez-la pour "
                "retirer la visite de votre agenda."
            )
        else:
            verb = "déplacé" if visit.sequence else "planifié"
            subject = f"Visite de stage le {when} — {learner.full_name}"
            text = (
                f"Bonjour {name},\n\n{teacher} a {verb} la visite de stage de "
                f"{learner.full_name}{' chez ' + company if company else ''} :\n\n"
                f"  Le {when} (durée : {visit.duration_minutes} min)\n"
                + (f"  Lieu : {visit.place.replace(chr(10), ', ')}\n" if visit.place else "")
                + "\nL'invitation est jointe (fichier .ics) : ouvrez-la pour l'ajouter à votre "
                f"agenda.\nBilan entreprise : {_link(f'/portfolios/{portfolio.id}/bilan')}"
            )
        text += f"\n\nVos notifications : {_link('/compte/notifications')}\n\n— Passerelle"
        messages.append(
            Outgoing(
                f"visit:{visit.id}:{visit.sequence}:{method}:{user.id if user else email}",
                NotificationKind.VISIT_INVITATION,
                email,
                subject,
                text,
                user.id if user else None,
                attachments=(attachment,),
            )
        )
    return messages


def _visits_with_portfolio(*conditions: object) -> list[tuple[Visit, Portfolio]]:
    visits = list(db.session.scalars(select(Visit).where(*conditions)))  # type: ignore[arg-type]
    return [(visit, visit_service.load_for_ics(visit)) for visit in visits]


def due_visit_invitations(now: datetime) -> Iterator[Outgoing]:
    """Invitations and cancellations of coming visits not sent yet (e.g. the mail server was
    down when the teacher planned it)."""
    pending = _visits_with_portfolio(
        or_(
            and_(Visit.status == VisitStatus.PLANNED, Visit.planned_start > now),
            and_(Visit.planned_start.is_(None), Visit.cancelled_start > now),
        )
    )
    for visit, portfolio in pending:
        yield from invitation_messages(visit, portfolio)


def due_visit_reminders(now: datetime) -> Iterator[Outgoing]:
    """The tutor, the day before the visit (Paris), with the link to the assessment."""
    tomorrow = now.astimezone(PARIS).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), tzinfo=PARIS)
    end = start + timedelta(days=1)
    pending = _visits_with_portfolio(
        Visit.status == VisitStatus.PLANNED, Visit.planned_start >= start, Visit.planned_start < end
    )
    tutor_ids = {p.tutor_id for _v, p in pending if p.tutor_id}
    off = _turned_off(NotificationKind.VISIT_REMINDER, tutor_ids)
    for visit, portfolio in pending:
        tutor = portfolio.tutor
        if tutor is None or not tutor.email or tutor.id in off:
            continue
        learner = portfolio.learner
        when = _visit_when(visit)
        url = _link(f"/portfolios/{portfolio.id}/bilan")
        yield Outgoing(
            f"visit-reminder:{visit.id}:{visit.sequence}:{tutor.id}",
            NotificationKind.VISIT_REMINDER,
            tutor.email,
            f"Demain : visite de stage de {learner.full_name}",
            f"Bonjour {tutor.first_name},\n\nPour rappel, la visite de l'enseignant référent "
            f"pour {learner.full_name} a lieu demain, {when}"
            + (f", {visit.place.replace(chr(10), ', ')}" if visit.place else "")
            + ".\n\nVous pourrez y remplir ensemble le bilan entreprise (il s'ouvre aussi sans "
            f"réseau si vous l'avez ouvert une fois avant) :\n{url}\n\n"
            f"Vos notifications : {_link('/compte/notifications')}\n\n— Passerelle",
            tutor.id,
        )


def run(now: datetime | None = None) -> RunReport:
    """Send everything that is due at `now` and was not sent yet; retry the failures."""
    now = now or utcnow()
    report = RunReport()
    for source in (
        due_visit_invitations,
        due_visit_reminders,
        due_sheet_reminders,
        due_teacher_digests,
    ):
        messages = list(source(now))
        done = _already_sent([m.key for m in messages])
        report.skipped += len(done)
        for message in messages:
            if message.key not in done:
                deliver(message, report)
    return report


def send_invitations(visit: Visit) -> RunReport:
    """After the teacher planned, moved or cancelled a visit (and committed): e-mail the .ics
    now. A failure is recorded, the page says so, and the next run of the job retries."""
    report = RunReport()
    portfolio = visit_service.load_for_ics(visit)
    for message in invitation_messages(visit, portfolio):
        deliver(message, report)
    return report
