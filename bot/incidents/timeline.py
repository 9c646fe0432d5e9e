"""The append-only incident timeline: one function writes it, nothing updates or deletes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
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


def entries(session: Session, *, incident_id: int) -> list[TimelineEntry]:
    return list(
        session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)
        )
    )
