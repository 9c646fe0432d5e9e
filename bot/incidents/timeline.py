"""The append-only incident timeline: one function writes it, nothing updates or deletes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.incidents.models import Incident, TimelineEntry


def record(
    session: Session,
    *,
    incident: Incident,
    at: datetime,
    kind: str,
    actor: str,
    source: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        incident_id=incident.id,
        at=at,
        kind=kind,
        actor=actor,
        source=source,
        message=message,
        data=data or {},
    )
    session.add(entry)
    return entry


def record_many(session: Session, *, entries: Sequence[dict[str, Any]]) -> None:
    """Many entries (each a dict of incident_id, at, kind, actor, source, message, data) in one executemany INSERT:
    an alert storm writes thousands at once, across incidents. A Core INSERT on the table: the ORM's bulk path adds
    per-row bookkeeping that nothing here needs (no objects come back). inline(): no RETURNING of the new id, even
    for one entry, so ingestion may run it inside `db.pipelined`."""
    if entries:
        session.execute(insert(TimelineEntry.__table__).inline(), list(entries))


def entries(session: Session, *, incident_id: int) -> list[TimelineEntry]:
    return list(
        session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)
        )
    )
