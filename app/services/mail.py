"""Outgoing e-mail through SMTP (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD,
SMTP_STARTTLS, MAIL_FROM). Without SMTP_HOST nothing is sent and callers show the link
instead. Call after the commit: a message must never announce a rolled-back change."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from flask import current_app

log = logging.getLogger(__name__)
TIMEOUT = 10


def is_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


@dataclass(frozen=True)
class MailAttachment:
    """A file joined to a message, e.g. an .ics invitation (text/calendar; method=REQUEST)."""

    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "octet-stream"
    params: tuple[tuple[str, str], ...] = ()


class MailError(Exception):
    """The message could not be handed to the mail server; `message` is French, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def send(to: str, subject: str, body: str) -> bool:
    """Send a plain-text message; True when the server accepted it. Errors are logged, not
    raised: the caller always has another way to hand over what the message carries."""
    try:
        return deliver(to, subject, body)
    except MailError:
        return False


def deliver(to: str, subject: str, body: str, attachments: tuple[MailAttachment, ...] = ()) -> bool:
    """Send a plain-text message with optional attachments. False when SMTP is not
    configured; raises MailError (logged) when the server cannot be reached or refuses."""
    config = current_app.config
    host = config.get("SMTP_HOST")
    if not host:
        return False
    message = EmailMessage()
    message["From"] = formataddr(("Passerelle", config.get("MAIL_FROM", "passerelle@localhost")))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="passerelle")
    message.set_content(body)
    for item in attachments:
        if item.maintype == "text":
            message.add_attachment(
                item.content.decode("utf-8"),
                subtype=item.subtype,
                filename=item.filename,
                params=dict(item.params),
            )
        else:
            message.add_attachment(
                item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename
            )
    try:
        with smtplib.SMTP(host, int(config.get("SMTP_PORT", 25)), timeout=TIMEOUT) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.exception("Could not send mail %r", subject)
        raise MailError(_french_reason(error)) from error
    return True


def _french_reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "Le serveur de messagerie a refusé l'adresse du destinataire."
    if isinstance(error, smtplib.SMTPException):
        return f"Le serveur de messagerie a refusé le message ({error})."
    return "Le serveur de messagerie est injoignable pour le moment."
