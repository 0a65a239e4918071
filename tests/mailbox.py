"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the tests: start it, point the app at it,
read the messages back as email.message.EmailMessage objects."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    mailbox.port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def ics_of(message: EmailMessage) -> bytes:
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            return content.encode() if isinstance(content, str) else bytes(content)
    raise AssertionError("no text/calendar attachment")
