"""Outgoing e-mail through SMTP (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD,
SMTP_STARTTLS, MAIL_FROM). Without SMTP_HOST nothing is sent and callers show the link
instead. Call after the commit: a message must never announce a rolled-back change."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from flask import current_app

log = logging.getLogger(__name__)
TIMEOUT = 10


def is_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def send(to: str, subject: str, body: str) -> bool:
    """Send a plain-text message; True when the server accepted it. Errors are logged, not
    raised: the caller always has another way to hand over what the message carries."""
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
    try:
        with smtplib.SMTP(host, int(config.get("SMTP_PORT", 25)), timeout=TIMEOUT) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        log.exception("Could not send mail %r", subject)
        return False
    return True
