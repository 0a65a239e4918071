"""`flask reminders send` (issue 16) against a real SMTP server on 127.0.0.1 and a local Web
Push endpoint: who gets what on Monday morning and the day before a visit, once each, in
French, with links that work; failures recorded and retried; preferences respected."""

from __future__ import annotations

import base64
import http.server
import os
import re
import threading
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from sqlalchemy import select

from app.models import PushSubscription, SentNotification, Visit
from app.services import push, reminders
from app.timefmt import PARIS
from tests.mailbox import Mailbox, body_of, free_port, smtp_server

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)  # week 49; the past week is 48


@pytest.fixture
def mailbox(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with smtp_server() as box:
        monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(app.config, "SMTP_PORT", box.port)
        monkeypatch.setitem(app.config, "PUBLIC_URL", "http://passerelle.test")
        yield box


class School:
    """A period from Monday 23 November 2026 (weeks 48–50): Inès left week 48 empty, Emilie
    wrote hers (unread by the teacher); a visit to Inès's company on Tuesday 1 December."""

    def __init__(self, f: Any) -> None:
        self.level = f.level()
        group = f.class_group(self.level)
        self.teacher = f.teacher([self.level], first_name="Hélène", last_name="Lefèvre")
        self.tutor = f.tutor(first_name="Jérôme", last_name="Martin")
        self.ines = f.learner(group, first_name="Inès", last_name="Garay")
        self.emilie = f.learner(group, first_name="Émilie", last_name="Temmam")
        self.period = f.period(
            self.level,
            [self.ines, self.emilie],
            start=date(2026, 11, 23),
            weeks=3,
            tutor=self.tutor,
        )
        by_learner = {p.learner_id: p for p in self.period.portfolios}
        self.portfolio = by_learner[self.ines.id]
        self.empty_sheet = self.portfolio.sheets[0]
        f.written(by_learner[self.emilie.id].sheets[0])
        self.visit = Visit(
            portfolio_id=self.portfolio.id,
            status="planned",
            planned_start=datetime(2026, 12, 1, 10, 0, tzinfo=PARIS),
            duration_minutes=60,
            place="12 rue de la Gare, 35000 Rennes",
            planned_by_id=self.teacher.id,
        )
        f.s.add(self.visit)
        f.s.flush()


def test_monday_morning_sends_each_reminder_once_in_french_with_working_links(
    f: Any, login_as: Any, mailbox: Mailbox
) -> None:
    s = School(f)

    first = reminders.run(MONDAY)
    second = reminders.run(MONDAY)

    assert not first.failed and not second.sent
    to_ines = {m["Subject"]: m for m in mailbox.to(s.ines.email)}
    assert "Votre fiche de la semaine 48 est encore vide" in to_ines
    reminder = body_of(to_ines["Votre fiche de la semaine 48 est encore vide"])
    assert reminder.startswith("Bonjour Inès,")
    assert "n'est pas encore écrite" in reminder
    assert mailbox.to(s.emilie.email) == []  # her sheet is written
    sheet_link = re.search(r"http://passerelle\.test(/fiches/\d+/fiche)", reminder)
    assert sheet_link is not None
    assert login_as(s.ines).get(sheet_link.group(1)).status_code == 200

    digest = [m for m in mailbox.to(s.teacher.email)]
    assert [m["Subject"] for m in digest] == ["1 fiche à lire cette semaine"]
    digest_text = body_of(digest[0])
    assert f"{s.period.name} (du 23/11/2026 au 11/12/2026) : 1 fiche non lue" in digest_text
    period_link = re.search(r"http://passerelle\.test(/periodes/\d+)", digest_text)
    assert period_link is not None
    assert login_as(s.teacher).get(period_link.group(1)).status_code == 200

    # The tutor: the invitation never sent yet, and (tomorrow is the visit) the reminder.
    subjects = sorted(m["Subject"] for m in mailbox.to(s.tutor.email))
    assert subjects == [
        "Demain : visite de stage de Inès GARAY",
        "Visite de stage le mardi 1 décembre 2026 à 10:00 — Inès GARAY",
    ]
    rows = f.s.scalars(select(SentNotification)).all()
    assert len(rows) == len(mailbox.messages) == 5
    assert all(row.sent_at is not None and row.error is None for row in rows)


def test_the_day_before_reminder_links_to_the_assessment(
    f: Any, login_as: Any, mailbox: Mailbox
) -> None:
    s = School(f)
    reminders.run(datetime(2026, 11, 29, 18, 0, tzinfo=PARIS))  # Sunday: invitation only
    assert [m["Subject"] for m in mailbox.to(s.tutor.email)] == [
        "Visite de stage le mardi 1 décembre 2026 à 10:00 — Inès GARAY"
    ]
    mailbox.clear()
    reminders.run(datetime(2026, 11, 30, 18, 0, tzinfo=PARIS))
    reminder = next(m for m in mailbox.to(s.tutor.email) if m["Subject"].startswith("Demain"))
    text = body_of(reminder)
    assert "a lieu demain, mardi 1 décembre 2026 à 10:00, 12 rue de la Gare" in text
    link = re.search(r"http://passerelle\.test(/portfolios/\d+/bilan)", text)
    assert link is not None
    assert login_as(s.tutor).get(link.group(1)).status_code == 200


def test_nothing_before_monday_seven_and_preferences_are_respected(
    f: Any, login_as: Any, mailbox: Mailbox
) -> None:
    s = School(f)
    reminders.run(datetime(2026, 11, 30, 6, 30, tzinfo=PARIS))
    assert mailbox.to(s.ines.email) == [] or all(
        "fiche" not in m["Subject"] for m in mailbox.to(s.ines.email)
    )
    assert mailbox.to(s.teacher.email) == []
    login_as(s.ines).post("/compte/notifications", data={"kinds": ["visit_invitation"]})
    login_as(s.teacher).post("/compte/notifications", data={})
    mailbox.clear()
    reminders.run(MONDAY)
    assert all("fiche" not in m["Subject"] for m in mailbox.to(s.ines.email))
    assert mailbox.to(s.teacher.email) == []


def test_an_unreachable_server_is_recorded_and_retried_by_the_next_run(
    app: Flask, f: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = School(f)
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())

    failed = reminders.run(MONDAY)

    assert failed.failed and not failed.sent
    assert all("injoignable" in reason for _key, reason in failed.failed)
    pending = f.s.scalars(select(SentNotification).where(SentNotification.sent_at.is_(None)))
    assert len(list(pending)) == len(failed.failed)
    with smtp_server() as box:
        monkeypatch.setitem(app.config, "SMTP_PORT", box.port)
        retried = reminders.run(MONDAY)
    assert len(retried.sent) == len(failed.failed) and not retried.failed
    assert len(box.to(s.ines.email)) == 2  # the sheet reminder and the visit invitation


def test_the_cli_is_idempotent_and_reports_what_it_did(
    f: Any, app: Flask, mailbox: Mailbox
) -> None:
    School(f)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["reminders", "send", "--now", "2026-11-30T08:00"])
    second = runner.invoke(args=["reminders", "send", "--now", "2026-11-30T08:00"])
    assert first.exit_code == 0, first.output
    assert "Rappels : 5 envoyé(s), 0 en échec" in first.output
    assert "Rappels : 0 envoyé(s), 0 en échec (nouvel essai au prochain passage), 5 déjà" in (
        second.output
    )
    assert len(mailbox.messages) == 5
    bad = runner.invoke(args=["reminders", "send", "--now", "lundi"])
    assert bad.exit_code != 0 and "date et heure ISO attendues" in bad.output


# --- Web Push against a local push endpoint ---------------------------------------------------


class PushEndpoint:
    """A push service on 127.0.0.1 that keeps what it receives (and answers `status`)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 201
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                endpoint.received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                )
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push/device-1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def push_endpoint(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[PushEndpoint]:
    private, public = push.generate_vapid_keys()
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", private)
    monkeypatch.setitem(app.config, "VAPID_PUBLIC_KEY", public)
    monkeypatch.setitem(app.config, "VAPID_SUBJECT", "mailto:vie-scolaire@lycee.test")
    endpoint = PushEndpoint()
    yield endpoint
    endpoint.server.shutdown()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_learner_reminder_is_pushed_encrypted_to_the_subscribed_phone(
    f: Any, login_as: Any, mailbox: Mailbox, push_endpoint: PushEndpoint
) -> None:
    s = School(f)
    device_key = ec.generate_private_key(ec.SECP256R1())
    auth_secret = os.urandom(16)
    public = device_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    answer = login_as(s.ines).post(
        "/api/push/abonnement",
        json={
            "endpoint": push_endpoint.url,
            "keys": {"p256dh": _b64(public), "auth": _b64(auth_secret)},
        },
    )
    assert answer.status_code == 200 and answer.json["ok"] is True

    reminders.run(MONDAY)
    reminders.run(MONDAY)

    assert len(push_endpoint.received) == 1
    headers, body = push_endpoint.received[0]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    payload = http_ece.decrypt(body, private_key=device_key, auth_secret=auth_secret)
    import json

    message = json.loads(payload)
    assert message["title"] == "Fiche de la semaine à écrire"
    assert message["body"] == "Votre fiche de la semaine 48 est encore vide."
    assert re.fullmatch(r"http://passerelle\.test/fiches/\d+/fiche", message["url"])
    assert any("fiche" in m["Subject"] for m in mailbox.to(s.ines.email))


def test_a_subscription_the_push_service_forgot_is_dropped(
    f: Any, login_as: Any, mailbox: Mailbox, push_endpoint: PushEndpoint
) -> None:
    s = School(f)
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    login_as(s.ines).post(
        "/api/push/abonnement",
        json={
            "endpoint": push_endpoint.url,
            "keys": {"p256dh": _b64(key), "auth": _b64(b"0" * 16)},
        },
    )
    push_endpoint.status = 410
    reminders.run(MONDAY)
    assert f.s.scalars(select(PushSubscription)).all() == []
    unsubscribe = login_as(s.ines).post("/api/push/desabonnement", json={"endpoint": "x"})
    assert unsubscribe.json["removed"] is False


def test_a_malformed_subscription_gets_a_french_message(f: Any, login_as: Any) -> None:
    s = School(f)
    answer = login_as(s.ines).post("/api/push/abonnement", json={"endpoint": "ftp://x"})
    assert answer.status_code == 422
    assert "Abonnement illisible" in answer.json["message"]
