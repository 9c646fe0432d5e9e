"""The running service's parts, built once by `app.create_app` and handed to every edge.

Edges (HTTP views, Slack handlers, the phone webhooks, the CLI) reach the database, the clock and the event bus only
through this object, so a test can build as many independent Herald instances as it likes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import transaction
from bot.incidents.events import EventBus
from bot.notify.channels import ChannelRegistry
from bot.notify.outbox import OutboxWorker
from bot.observability import Metrics
from bot.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    events: EventBus
    metrics: Metrics
    outbox: OutboxWorker | None = None
    channels: ChannelRegistry = field(default_factory=ChannelRegistry)
    health: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session
