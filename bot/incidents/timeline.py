"""The append-only incident timeline: only this module writes it (`record`, `MANY`), nothing updates or deletes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.db import RowsWrite, json_rows
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


_TABLE = TimelineEntry.__table__
_COLUMNS = ["incident_id", "at", "kind", "actor", "source", "message", "data"]
_ROWS = json_rows("entries", ((name, _TABLE.c[name].type) for name in _COLUMNS))
# Many entries (each a dict of incident_id, at, kind, actor, source, message, data) in one write: an alert storm
# writes thousands at once, across incidents (`incidents.service.record_alerts`). Core, not the ORM's bulk path,
# which adds per-row bookkeeping that nothing here needs; no RETURNING of the new ids, so it may run in `db.pipelined`.
MANY = RowsWrite(
    "entries",
    each=insert(_TABLE).inline(),
    at_once=insert(_TABLE).from_select(_COLUMNS, select(*(_ROWS.c[name] for name in _COLUMNS))),
)


def entries(session: Session, *, incident_id: int) -> list[TimelineEntry]:
    return list(
        session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)
        )
    )
