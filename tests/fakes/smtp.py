"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts, and can refuse on demand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.server import free_port


@dataclass
class SmtpFake:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    refuse_next: list[str] = field(default_factory=list)  # SMTP replies to give instead of accepting, in order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self._lock:
            if self.refuse_next:
                return self.refuse_next.pop(0)
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def received(self) -> list[Message]:
        with self._lock:
            return list(self.messages)


@contextmanager
def smtp_server() -> Iterator[SmtpFake]:
    fake = SmtpFake("127.0.0.1", free_port())
    controller = Controller(fake, hostname=fake.host, port=fake.port)
    controller.start()
    try:
        yield fake
    finally:
        controller.stop()
