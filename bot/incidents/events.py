"""Incident events and the in-transaction bus that delivers them.

Domain code publishes an `IncidentEvent` inside the transaction that changed the incident; subscribers (escalation,
Slack mirroring, VictorOps sync, hooks), registered by `app.py`, run in that same transaction and write what must
happen next as rows (outbox messages, escalation steps). A crash therefore loses either both the change and its
consequences, or neither. Subscribers must not do network I/O: that is the outbox worker's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session


class EventKind(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ALERT_ADDED = "alert_added"
    SEVERITY_RAISED = "severity_raised"
    NOTE_ADDED = "note_added"


@dataclass(frozen=True)
class IncidentEvent:
    kind: EventKind
    incident_id: int
    number: int
    actor: str
    source: str
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Session, IncidentEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, session: Session, event: IncidentEvent) -> None:
        for subscriber in self._subscribers:
            subscriber(session, event)
