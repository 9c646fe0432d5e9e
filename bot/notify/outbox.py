"""The durable outbox: work that must reach the outside world (VictorOps sync, Slack updates, pages, hooks).

A message is written in the same transaction as the state change that caused it, with an idempotency key, so the
change and the promise to tell others commit together; enqueuing the same key twice is a no-op. The worker claims
due messages with a lease (and `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same row), does
the I/O outside any transaction, then records success, or schedules a retry with capped exponential backoff. Each
failed attempt is written to the incident's timeline, so an outage is visible and nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.clock import Clock
from bot.db import Base, insert_or_ignore, transaction
from bot.incidents import timeline
from bot.incidents.models import Incident

log = logging.getLogger(__name__)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


def enqueue(
    session: Session,
    *,
    clock: Clock,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    incident_id: int | None = None,
    not_before: datetime | None = None,
) -> None:
    """Add a message unless one with the same idempotency key exists (retried deliveries stay single)."""
    now = clock.now()
    values = {
        "kind": kind,
        "idempotency_key": key,
        "payload": dict(payload),
        "incident_id": incident_id,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": not_before or now,
    }
    insert_or_ignore(session, OutboxMessage, values)


class DebouncedJobs:
    """One `kind` job per incident and time window, for changes that come in floods.

    An alert storm adds alerts to each of its incidents with every ingest batch, several times a second; what those
    changes promise (a re-rendered call, an updated Slack message) only needs the state at the end of a short window.
    Every change within one window therefore shares one idempotency key, and the job is due at the window's end. A
    job is remembered once its transaction commits, so the other changes of the window cost no statement at all;
    after a rollback the next change enqueues it again. Several replicas each insert it once: the key keeps one row.
    """

    KEEP = 10_000  # incidents remembered before the windows already over are forgotten

    def __init__(self, kind: str, window: timedelta) -> None:
        self.kind = kind
        self.window = window
        self._slots: dict[int, int] = {}
        self._pending = f"outbox.debounced.{id(self)}"  # this instance's jobs in a session's `info`

    def due(self, clock: Clock, incident_id: int) -> bool:
        """Whether a change now still needs `enqueue` (no job of this window is known to be committed)."""
        return self._slots.get(incident_id) != self._slot(clock)

    def enqueue(self, session: Session, *, clock: Clock, incident_id: int, payload: Mapping[str, Any]) -> None:
        """The job of this incident and window, added unless it is known to be committed already."""
        slot = self._slot(clock)
        if self._slots.get(incident_id) == slot:
            return
        enqueue(
            session,
            clock=clock,
            kind=self.kind,
            key=f"{self.kind}:{incident_id}:alerts:{slot}",
            payload=payload,
            incident_id=incident_id,
            not_before=datetime.fromtimestamp((slot + 1) * self.window.total_seconds(), UTC),
        )
        pending = session.info.get(self._pending)
        if pending is None:
            pending = session.info[self._pending] = {}
            sa_event.listen(session, "after_commit", self._promote, once=True)
            sa_event.listen(session, "after_soft_rollback", self._forget, once=True)
        pending[incident_id] = slot

    def _slot(self, clock: Clock) -> int:
        return int(clock.now().timestamp() // self.window.total_seconds())

    def _promote(self, session: Session) -> None:
        pending = session.info.pop(self._pending, {})
        if pending and len(self._slots) > self.KEEP:
            current = max(pending.values())
            self._slots = {i: s for i, s in self._slots.items() if s >= current}
        self._slots.update(pending)

    def _forget(self, session: Session, _previous: Any) -> None:
        session.info.pop(self._pending, None)


def record_delivery(
    session_factory: sessionmaker[Session],
    clock: Clock,
    message: OutboxMessage,
    *,
    kind: str,
    text: str,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Note a handler's successful delivery on the message's incident timeline (no-op without an incident)."""
    if message.incident_id is None:
        return
    with transaction(session_factory) as session:
        incident = session.get(Incident, message.incident_id)
        if incident is not None:
            timeline.record(
                session,
                incident=incident,
                at=clock.now(),
                kind=kind,
                actor="herald",
                source="outbox",
                message=text,
                data={"outbox_id": message.id, **(data or {})},
            )


class PermanentFailure(Exception):
    """A handler's way to say that retrying cannot help (e.g. a 4xx from the remote API)."""


Handler = Callable[[OutboxMessage], None]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    lease_seconds: float = 120.0

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1)))


class OutboxWorker:
    """Delivers due outbox messages through the handler registered for their kind."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        handlers: Mapping[str, Handler],
        policy: RetryPolicy | None = None,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._handlers = handlers
        self._policy = policy or RetryPolicy()

    def run_once(self, batch: int = 50) -> int:
        """Deliver what is due now; returns how many messages were attempted."""
        claimed = self._claim(batch)
        for message in claimed:
            self._deliver(message)
        return len(claimed)

    def next_due(self) -> datetime | None:
        with self._sessions() as session:
            return session.scalars(
                select(OutboxMessage.next_attempt_at)
                .where(OutboxMessage.status == "pending", OutboxMessage.kind.in_(list(self._handlers)))
                .order_by(OutboxMessage.next_attempt_at)
                .limit(1)
            ).first()

    def _claim(self, batch: int) -> list[OutboxMessage]:
        now = self._clock.now()
        with transaction(self._sessions) as session:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.kind.in_(list(self._handlers)),
                    OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now),
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            messages = list(session.scalars(query))
            for message in messages:
                message.attempts += 1
                message.lease_until = now + timedelta(seconds=self._policy.lease_seconds)
            return messages

    def _deliver(self, message: OutboxMessage) -> None:
        handler = self._handlers[message.kind]
        try:
            handler(message)
        except PermanentFailure as exc:
            self._finish(message, error=str(exc), permanent=True)
        except Exception as exc:  # any I/O failure is retried; the error is kept for the timeline
            log.warning("outbox %s #%s attempt %s failed: %s", message.kind, message.id, message.attempts, exc)
            self._finish(message, error=f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            self._finish(message, error=None, permanent=False)

    def _finish(self, claimed: OutboxMessage, *, error: str | None, permanent: bool) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as session:
            message = session.get(OutboxMessage, claimed.id)
            if message is None:
                return
            message.lease_until = None
            if error is None:
                message.status = "sent"
                message.sent_at = now
                message.last_error = None
                return
            message.last_error = error
            gives_up = permanent or message.attempts >= self._policy.max_attempts
            if gives_up:
                message.status = "failed"
            else:
                message.next_attempt_at = now + self._policy.delay(message.attempts)
            self._note_failure(session, message, error, gives_up, now)

    def _note_failure(
        self, session: Session, message: OutboxMessage, error: str, gives_up: bool, now: datetime
    ) -> None:
        if message.incident_id is None:
            return
        incident = session.get(Incident, message.incident_id)
        if incident is None:
            return
        if gives_up:
            text = f"{message.kind} failed after {message.attempts} attempt(s), giving up: {error}"
        else:
            text = (
                f"{message.kind} attempt {message.attempts} failed ({error}); "
                f"retrying at {message.next_attempt_at:%H:%M:%S} UTC"
            )
        timeline.record(
            session,
            incident=incident,
            at=now,
            kind="delivery_failed" if gives_up else "delivery_retry",
            actor="herald",
            source="outbox",
            message=text,
            data={"outbox_id": message.id, "kind": message.kind, "attempts": message.attempts},
        )
