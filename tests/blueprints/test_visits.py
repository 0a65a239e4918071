"""Visits (issue 16) through the routes, with a real SMTP server on 127.0.0.1: planning on the
teacher's side, the .ics read back with icalendar, bad dates, an unreachable mail server, the
lists (Mes visites, the period view, the tutor's and learner's homes) and the report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import pytest
from flask import Flask
from sqlalchemy import select

from app.models import SentNotification, Visit
from app.timefmt import PARIS
from tests.mailbox import Mailbox, body_of, free_port, ics_of, smtp_server


@pytest.fixture
def mailbox(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with smtp_server() as box:
        monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(app.config, "SMTP_PORT", box.port)
        monkeypatch.setitem(app.config, "PUBLIC_URL", "http://passerelle.test")
        yield box


class Round:
    """A teacher, two learners placed in companies, their tutors, a period starting next week."""

    def __init__(self, f: Any, learners: int = 2) -> None:
        self.level = f.level()
        self.group = f.class_group(self.level)
        self.teacher = f.teacher([self.level], first_name="Hélène", last_name="Lefèvre")
        self.colleague = f.teacher([self.level], first_name="Marc", last_name="Durand")
        self.tutor = f.tutor(first_name="Jérôme", last_name="Martin")
        today = datetime.now(UTC).astimezone(PARIS).date()
        start = today + timedelta(days=7 - today.weekday())  # next Monday
        self.learners = [
            f.learner(self.group, first_name="Inès", last_name=f"Garay{i}") for i in range(learners)
        ]
        self.period = f.period(self.level, self.learners, start=start, weeks=4, tutor=self.tutor)
        self.portfolios = sorted(self.period.portfolios, key=lambda p: p.learner.last_name)
        towns = ["35000 Rennes", "29200 Brest", "56100 Lorient", "22000 Saint-Brieuc"]
        for i, portfolio in enumerate(self.portfolios):
            sheet = portfolio.liaison_sheet
            sheet.company_name = f"Électricité Martin {i}"
            sheet.company_address = f"{i + 1} rue de la Gare\n{towns[i % 4]}"
            sheet.tutor_name = "Jérôme MARTIN"
            sheet.tutor_phone = "06 12 34 56 78"
        f.s.flush()
        self.portfolio = self.portfolios[0]


def _plan(client: Any, portfolio: Any, day: date, at: str = "10:00", **extra: str) -> Any:
    data = {"day": day.isoformat(), "start_time": at, "duration": "60", "place": ""}
    data.update(extra)
    return client.post(f"/portfolios/{portfolio.id}/visite", data=data)


def test_planning_a_visit_emails_the_ics_to_the_tutor_and_the_learner(
    f: Any, login_as: Any, mailbox: Mailbox
) -> None:
    r = Round(f)
    teacher = login_as(r.teacher)
    day = r.period.start_date + timedelta(days=2)

    response = _plan(teacher, r.portfolio, day, "10:30")

    assert response.status_code == 303
    page = teacher.get(response.headers["Location"]).get_data(as_text=True)
    assert "L&#39;invitation (.ics) a été envoyée par e-mail" in page
    assert "10:30" in page
    to_tutor = mailbox.to(r.tutor.email)
    to_learner = mailbox.to(r.portfolio.learner.email)
    assert len(to_tutor) == 1 and len(to_learner) == 1
    message = to_tutor[0]
    assert "Visite de stage le" in message["Subject"]
    assert r.portfolio.learner.full_name in message["Subject"]
    text = body_of(message)
    assert "Hélène LEFÈVRE a planifié la visite de stage" in text
    assert "Électricité Martin 0" in text
    calendar = icalendar.Calendar.from_ical(ics_of(message))
    assert str(calendar["METHOD"]) == "REQUEST"
    event = calendar.events[0]
    assert int(event["SEQUENCE"]) == 0
    assert event.start == datetime.combine(day, datetime.min.time(), PARIS).replace(
        hour=10, minute=30
    )
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert calendar.walk("VTIMEZONE")[0]["TZID"] == "Europe/Paris"
    assert "rue de la Gare" in str(event["LOCATION"])
    attendees = {str(a) for a in event["ATTENDEE"]}
    assert f"mailto:{r.tutor.email}" in attendees
    # The assessment link of the e-mail works for the tutor who follows it.
    link = re.search(r"http://passerelle\.test(/portfolios/\d+/bilan)", text)
    assert link is not None
    assert login_as(r.tutor).get(link.group(1)).status_code == 200


def test_moving_then_cancelling_keeps_the_uid_and_raises_the_sequence(
    f: Any, login_as: Any, mailbox: Mailbox
) -> None:
    r = Round(f)
    teacher = login_as(r.teacher)
    day = r.period.start_date + timedelta(days=1)
    _plan(teacher, r.portfolio, day)
    _plan(teacher, r.portfolio, day + timedelta(days=1), "14:00")
    teacher.post(f"/portfolios/{r.portfolio.id}/visite/annuler")

    mails = mailbox.to(r.tutor.email)
    assert len(mails) == 3
    calendars = [icalendar.Calendar.from_ical(ics_of(m)) for m in mails]
    uids = {str(c.events[0]["UID"]) for c in calendars}
    assert len(uids) == 1
    assert [int(c.events[0]["SEQUENCE"]) for c in calendars] == [0, 1, 2]
    assert [str(c["METHOD"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    assert "déplacé" in body_of(mails[1])
    assert mails[2]["Subject"].startswith("Visite annulée")
    assert calendars[2].events[0].start.hour == 14
    visit = f.s.scalar(select(Visit).where(Visit.portfolio_id == r.portfolio.id))
    assert visit.status == "to_plan" and visit.planned_start is None


@pytest.mark.parametrize(
    ("day", "at", "message"),
    [
        ("outside", "10:00", "La visite doit avoir lieu pendant la période, du "),
        ("32/13/2026", "10:00", "Saisissez une date valide (jj/mm/aaaa)."),
        ("", "10:00", "Choisissez le jour de la visite."),
        ("inside", "25:99", "Saisissez une heure valide (hh:mm)"),
    ],
)
def test_bad_dates_are_refused_next_to_the_field_keeping_what_was_typed(
    f: Any, login_as: Any, day: str, at: str, message: str
) -> None:
    r = Round(f)
    typed = {
        "outside": (r.period.end_date + timedelta(days=3)).isoformat(),
        "inside": (r.period.start_date + timedelta(days=1)).isoformat(),
    }.get(day, day)
    response = login_as(r.teacher).post(
        f"/portfolios/{r.portfolio.id}/visite",
        data={"day": typed, "start_time": at, "duration": "90", "place": "Atelier B, hall 2"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message.replace("'", "&#39;") in html
    assert 'class="field-error"' in html
    assert "Atelier B, hall 2" in html
    assert '<option value="90" selected>' in html
    if typed:
        assert f'value="{typed}"' in html
    assert f.s.scalar(select(Visit).where(Visit.portfolio_id == r.portfolio.id)) is None


def test_a_new_visit_cannot_be_planned_in_the_past(f: Any, login_as: Any) -> None:
    r = Round(f)
    today = datetime.now(UTC).astimezone(PARIS).date()
    r.period.start_date = today - timedelta(days=10)
    f.s.flush()
    response = _plan(login_as(r.teacher), r.portfolio, today - timedelta(days=2))
    assert response.status_code == 422
    assert "Cette date est passée" in response.get_data(as_text=True)


def test_an_unreachable_mail_server_saves_the_visit_says_so_and_the_job_retries(
    app: Flask, f: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services import reminders

    r = Round(f, learners=1)
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nobody listens there
    teacher = login_as(r.teacher)

    response = _plan(teacher, r.portfolio, r.period.start_date + timedelta(days=1))

    assert response.status_code == 303
    page = teacher.get(response.headers["Location"]).get_data(as_text=True)
    assert "La visite est enregistrée, mais l&#39;e-mail d&#39;invitation n&#39;a pas pu" in page
    assert "injoignable" in page
    rows = f.s.scalars(select(SentNotification)).all()
    assert len(rows) == 2 and all(row.sent_at is None and row.error for row in rows)

    with smtp_server() as box:
        monkeypatch.setitem(app.config, "SMTP_PORT", box.port)
        first = reminders.run()
        second = reminders.run()
    assert len(first.sent) == 2 and not first.failed
    assert not second.sent and second.skipped >= 2
    assert len(box.to(r.tutor.email)) == 1


def test_mes_visites_lists_company_address_tutor_phone_and_sorts_by_town(
    f: Any, login_as: Any
) -> None:
    r = Round(f, learners=3)
    teacher = login_as(r.teacher)
    _plan(teacher, r.portfolios[2], r.period.start_date + timedelta(days=1))

    by_date = teacher.get("/mes-visites").get_data(as_text=True)
    assert "Électricité Martin 1" in by_date and "29200 Brest" in by_date
    assert 'href="tel:0612345678"' in by_date
    assert "<strong>2</strong> visites à planifier" in by_date
    order = [by_date.index(f"visit-{p.id}") for p in r.portfolios]
    assert order[2] < order[0]  # the planned visit comes first

    by_town = teacher.get("/mes-visites?tri=ville").get_data(as_text=True)
    towns = [by_town.index(f'id="visit-{p.id}"') for p in r.portfolios]
    # Brest (1) < Lorient (2) < Rennes (0)
    assert towns[1] < towns[2] < towns[0]


def test_period_view_marks_visits_not_planned_in_a_constant_number_of_queries(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    small, large = Round(f, learners=1), Round(f, learners=4)
    _plan(login_as(large.teacher), large.portfolios[0], large.period.start_date + timedelta(days=1))

    html = login_as(large.teacher).get(f"/periodes/{large.period.id}").get_data(as_text=True)
    assert "3 visites sur 4 pas encore planifiées" in html
    assert html.count("Visite à planifier") == 3
    assert "Visite le " in html

    counts = []
    for r in (small, large):
        client = login_as(r.teacher)
        with count_queries() as q:
            client.get(f"/periodes/{r.period.id}")
        counts.append(q.count)
    assert counts[0] == counts[1]


def test_tutor_and_learner_see_the_planned_visit_on_their_home_page(f: Any, login_as: Any) -> None:
    r = Round(f, learners=1)
    day = r.period.start_date + timedelta(days=3)
    _plan(login_as(r.teacher), r.portfolio, day, "09:15")
    long_day = f"{day.day} "
    for user in (r.tutor, r.portfolio.learner):
        html = login_as(user).get("/mes-apprenants" if user is r.tutor else "/mes-portfolios")
        text = html.get_data(as_text=True)
        assert "Visite de l'enseignant référent" in text
        assert "à 09:15" in text and long_day in text
        assert f"/portfolios/{r.portfolio.id}/visite.ics" in text
    ics = login_as(r.tutor).get(f"/portfolios/{r.portfolio.id}/visite.ics")
    assert ics.mimetype == "text/calendar"
    assert icalendar.Calendar.from_ical(ics.data).events[0].start.hour == 9


def test_the_report_is_written_by_the_referent_and_read_by_the_other_teachers(
    f: Any, login_as: Any
) -> None:
    r = Round(f, learners=1)
    r.portfolio.referent_teacher_id = r.teacher.id
    r.period.start_date = date.today() - timedelta(days=10)
    f.s.flush()
    teacher = login_as(r.teacher)
    url = f"/portfolios/{r.portfolio.id}/visite/compte-rendu"
    future = teacher.post(
        url,
        data={
            "day": (date.today() + timedelta(days=2)).isoformat(),
            "met": "M. Martin",
            "conditions": "",
            "points_to_watch": "",
        },
    )
    assert future.status_code == 422
    assert "ne peut pas être à venir" in future.get_data(as_text=True)
    assert "M. Martin" in future.get_data(as_text=True)

    done = teacher.post(
        url,
        data={
            "day": (date.today() - timedelta(days=1)).isoformat(),
            "met": "Jérôme Martin, tuteur ; le chef d'équipe",
            "conditions": "Accueil chaleureux, EPI fournis.",
            "points_to_watch": "Arrive souvent en retard le lundi.",
        },
    )
    assert done.status_code == 303

    colleague = login_as(r.colleague)
    html = colleague.get(url).get_data(as_text=True)
    assert "Arrive souvent en retard le lundi." in html
    assert "<textarea" not in html  # read, not edited
    assert colleague.post(url, data={"day": "2026-01-01", "met": "x"}).status_code == 403
    assert login_as(r.portfolio.learner).get(url).status_code == 403
    visit = f.s.scalar(select(Visit).where(Visit.portfolio_id == r.portfolio.id))
    assert visit.status == "report_written"
    listing = login_as(r.teacher).get("/mes-visites").get_data(as_text=True)
    assert "Compte rendu écrit" in listing


def test_turning_off_invitations_stops_them_for_that_person_only(
    f: Any, login_as: Any, mailbox: Mailbox
) -> None:
    r = Round(f, learners=1)
    tutor = login_as(r.tutor)
    page = tutor.get("/compte/notifications").get_data(as_text=True)
    assert "Rappel la veille d&#39;une visite" in page
    assert (
        tutor.post("/compte/notifications", data={"kinds": ["visit_reminder"]}).status_code == 303
    )
    again = tutor.get("/compte/notifications").get_data(as_text=True)
    assert 'value="visit_invitation">' in again and 'value="visit_reminder" checked>' in again

    _plan(login_as(r.teacher), r.portfolio, r.period.start_date + timedelta(days=1))
    assert mailbox.to(r.tutor.email) == []
    assert len(mailbox.to(r.portfolio.learner.email)) == 1


def test_the_report_appears_in_the_placement_summary(f: Any, login_as: Any) -> None:
    from tests.services.test_documents import pdf_text

    r = Round(f, learners=1)
    r.period.start_date = date.today() - timedelta(days=10)
    f.s.flush()
    teacher = login_as(r.teacher)
    teacher.post(
        f"/portfolios/{r.portfolio.id}/visite/compte-rendu",
        data={
            "day": (date.today() - timedelta(days=1)).isoformat(),
            "met": "Jérôme Martin, tuteur",
            "conditions": "Atelier bien équipé.",
            "points_to_watch": "Sécurité électrique à revoir.",
        },
    )
    pdf = teacher.get(f"/apprenants/{r.portfolio.learner_id}/synthese.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data)
    assert "Visite en entreprise" in text
    assert "Sécurité électrique à revoir." in text
    assert "Jérôme Martin, tuteur" in text


def test_mes_visites_runs_the_same_queries_for_1_or_6_learners(
    f: Any, login_as: Any, count_queries: Any
) -> None:
    counts = []
    for size in (1, 6):
        r = Round(f, learners=size)
        client = login_as(r.teacher)
        _plan(client, r.portfolios[0], r.period.start_date + timedelta(days=1))
        with count_queries() as q:
            html = client.get("/mes-visites").get_data(as_text=True)
        assert html.count('class="card visit-card') == size
        counts.append(q.count)
    print(f"Mes visites: {counts} statements")
    assert counts[0] == counts[1]


def test_the_ics_download_survives_any_name(f: Any, login_as: Any) -> None:
    r = Round(f, learners=1)
    r.portfolio.learner.last_name = 'Nguyễn "O\'Brien"'
    f.s.flush()
    _plan(login_as(r.teacher), r.portfolio, r.period.start_date + timedelta(days=1))
    response = login_as(r.portfolio.learner).get(f"/portfolios/{r.portfolio.id}/visite.ics")
    assert response.status_code == 200
    assert (
        f'filename="visite-nguyen-o-brien-{r.portfolio.id}.ics"'
        in (response.headers["Content-Disposition"])
    )
