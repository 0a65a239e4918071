"""Tutor accounts and one-time invitation links; e-mail through a local SMTP server."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.errors import DomainError, InvalidInput, NotFound
from app.models import Invitation, Tutor
from app.models.base import utcnow
from app.services import auth, invitations, mail
from app.services.invitations import InvitationGone, TutorInput
from app.services.periods import FieldError

TTL = timedelta(days=7)


# --- a tiny SMTP server (aiosmtpd is not in the venv) ------------------------------------------


class SMTPRecorder(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _SMTPHandler(socketserver.StreamRequestHandler):
    server: SMTPRecorder

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._reply("220 localhost test SMTP")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode(errors="replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip(" <>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                message = message_from_bytes(b"".join(lines), policy=policy.default)
                self.server.messages.append(message)  # type: ignore[arg-type]
                self.server.envelopes.append((sender, recipients))
                self._reply("250 OK queued")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("250 OK")


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SMTPRecorder]:
    """A local SMTP server on a free port, with SMTP_HOST/PORT pointing at it."""
    server = SMTPRecorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = {key: app.config.get(key) for key in ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_STARTTLS=False)
    try:
        yield server
    finally:
        app.config.update(saved)
        server.shutdown()
        server.server_close()


def _data(**kw: Any) -> TutorInput:
    kw.setdefault("first_name", "Paul")
    kw.setdefault("last_name", "Martin")
    kw.setdefault("email", "Paul.Martin@Example.org")
    kw.setdefault("job_title", "Chef d'équipe")
    return TutorInput(**kw)


# --- inviting ----------------------------------------------------------------------------------


def _fresh_portfolio(f: Any, w: Any) -> Any:
    learner = f.learner(w.class_group)
    period = f.period(w.level, [learner], start=w.period.start_date)
    return period.portfolios[0]


def test_invite_creates_the_tutor_links_the_portfolio_and_stores_only_a_hash(
    f: Any, db: Any
) -> None:
    w = f.world()
    portfolio = _fresh_portfolio(f, w)
    issued = invitations.invite_internship_tutor(w.teacher, portfolio, _data(), TTL)
    assert issued.created and issued.token
    tutor = issued.tutor
    assert isinstance(tutor, Tutor) and tutor.tutor_kind == "internship"
    assert tutor.email == "paul.martin@example.org" and tutor.created_by_id == w.teacher.id
    assert tutor.password_hash is None
    assert portfolio.tutor_id == tutor.id
    stored = db.session.scalars(select(Invitation).where(Invitation.user_id == tutor.id)).all()
    assert len(stored) == 1
    assert stored[0].token_hash == invitations.hash_token(issued.token)
    assert issued.token not in stored[0].token_hash
    delta = stored[0].expires_at - stored[0].created_at
    assert timedelta(days=6, hours=23) < delta <= TTL


def test_invite_reuses_a_tutor_by_email_and_revokes_older_links(f: Any) -> None:
    w = f.world()
    first = invitations.invite_internship_tutor(w.teacher, _fresh_portfolio(f, w), _data(), TTL)
    other = _fresh_portfolio(f, w)
    second = invitations.invite_internship_tutor(
        w.teacher, other, _data(email="paul.martin@example.org", first_name="Autre"), TTL
    )
    assert second.tutor.id == first.tutor.id and not second.created
    assert second.tutor.first_name == "Paul"  # an existing account is not overwritten
    assert other.tutor_id == first.tutor.id
    assert first.token is not None and second.token is not None
    with pytest.raises(InvitationGone, match="remplacé"):
        invitations.find_invitation(first.token)
    assert invitations.find_invitation(second.token).user_id == first.tutor.id


def test_an_active_tutor_gets_no_new_link(f: Any) -> None:
    w = f.world()
    auth.set_password(w.tutor, "une phrase assez longue")
    issued = invitations.invite_internship_tutor(
        w.teacher, _fresh_portfolio(f, w), _data(email=w.tutor.email), TTL
    )
    assert issued.tutor.id == w.tutor.id and issued.token is None


def test_invite_refuses_the_email_of_another_kind_of_account(f: Any) -> None:
    w = f.world()
    for email in (w.learner.email, w.teacher.email, w.master.email):
        with pytest.raises(FieldError) as error:
            invitations.invite_internship_tutor(
                w.teacher, _fresh_portfolio(f, w), _data(email=email), TTL
            )
        assert error.value.field == "email"


def test_invite_refuses_bad_input(f: Any) -> None:
    w = f.world()
    with pytest.raises(FieldError, match="Adresse e-mail invalide"):
        invitations.invite_internship_tutor(
            w.teacher, _fresh_portfolio(f, w), _data(email="pas-une-adresse"), TTL
        )
    with pytest.raises(FieldError, match="prénom"):
        invitations.invite_internship_tutor(
            w.teacher, _fresh_portfolio(f, w), _data(first_name=" "), TTL
        )


def test_a_teacher_cannot_replace_an_apprenticeship_master(f: Any) -> None:
    w = f.world()
    with pytest.raises(DomainError, match="maître d'apprentissage"):
        invitations.invite_internship_tutor(w.teacher, w.classmate_portfolio, _data(), TTL)
    assert w.classmate_portfolio.tutor_id == w.master.id


def test_create_master_and_assign_it(f: Any) -> None:
    w = f.world()
    issued = invitations.create_master(w.admin, _data(email="ma@example.org"), TTL)
    assert issued.tutor.is_master and issued.token is not None
    portfolio = _fresh_portfolio(f, w)
    invitations.assign_master(w.admin, portfolio, issued.tutor)
    assert portfolio.tutor_id == issued.tutor.id
    with pytest.raises(InvalidInput):
        invitations.assign_master(w.admin, portfolio, w.tutor)


# --- accepting ---------------------------------------------------------------------------------


def test_accept_sets_the_password_and_works_once(f: Any) -> None:
    w = f.world()
    _invitation, token = invitations.issue_invitation(w.teacher, w.tutor, TTL)
    invitations.find_invitation(token)  # reading does not consume
    invitations.find_invitation(token)
    user = invitations.accept_invitation(token, "une phrase assez longue")
    assert user.id == w.tutor.id
    assert auth.verify_password(user, "une phrase assez longue")
    with pytest.raises(InvitationGone, match="déjà été utilisé"):
        invitations.find_invitation(token)
    with pytest.raises(InvitationGone):
        invitations.accept_invitation(token, "une autre phrase longue")


def test_a_short_password_does_not_consume_the_link(f: Any) -> None:
    w = f.world()
    invitation, token = invitations.issue_invitation(w.teacher, w.tutor, TTL)
    with pytest.raises(InvalidInput):
        invitations.accept_invitation(token, "court")
    assert invitation.used_at is None
    invitations.accept_invitation(token, "une phrase assez longue")


def test_expired_and_unknown_links(f: Any) -> None:
    w = f.world()
    invitation, token = invitations.issue_invitation(w.teacher, w.tutor, TTL)
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    f.s.flush()
    with pytest.raises(InvitationGone, match="expiré"):
        invitations.find_invitation(token)
    with pytest.raises(NotFound):
        invitations.find_invitation("inconnu")
    with pytest.raises(NotFound):
        invitations.find_invitation("x" * 500)


def test_a_deactivated_account_cannot_use_its_link(f: Any) -> None:
    w = f.world()
    _invitation, token = invitations.issue_invitation(w.teacher, w.tutor, TTL)
    w.tutor.is_active_account = False
    f.s.flush()
    with pytest.raises(InvitationGone, match="désactivé"):
        invitations.find_invitation(token)


# --- mail --------------------------------------------------------------------------------------


def test_mail_goes_through_the_smtp_server(app: Flask, db: Any, smtp_server: SMTPRecorder) -> None:
    assert mail.is_configured()
    assert mail.send("paul@example.org", "Votre accès à Passerelle", "Bonjour Paul,\nLien : x")
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "paul@example.org"
    assert message["Subject"] == "Votre accès à Passerelle"
    assert "Bonjour Paul" in message.get_content()
    assert smtp_server.envelopes[0][1] == ["paul@example.org"]


def test_mail_failure_is_reported_not_raised(app: Flask, db: Any) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = app.config["SMTP_HOST"], app.config["SMTP_PORT"]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    try:
        assert mail.send("paul@example.org", "Sujet", "Corps") is False
    finally:
        app.config["SMTP_HOST"], app.config["SMTP_PORT"] = saved


def test_mail_is_not_sent_without_smtp(app: Flask, db: Any) -> None:
    assert app.config["SMTP_HOST"] is None
    assert mail.send("a@example.org", "Sujet", "Corps") is False
