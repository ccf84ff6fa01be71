"""Helpers shared by several test files: where the real NHS files are, and a real local SMTP server."""

from __future__ import annotations

import contextlib
import email
import socket
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the real published NHS files (../shared/data/real); absent in a user's clone of the repository
REAL = ROOT.parent / "shared" / "data" / "real"

#: marks for tests that read the real files: they skip, saying why, only where the files are absent
requires_real_data = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real NHS files not present at {REAL} (a user's clone)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What a local aiosmtpd server received: raw envelopes and the parsed messages."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.messages: list[email.message.EmailMessage] = []
        self.rcpt: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free localhost port for the duration of the block."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
