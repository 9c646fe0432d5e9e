"""Incident use cases as plain functions: the HTTP API, Slack, the phone, the web console, the CLI and the
escalation engine all call these, inside a transaction they own.

Every change writes its timeline entry and publishes an `IncidentEvent` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from bot.clock import Clock
from bot.db import RowsWrite, RowsWrites, json_rows
from bot.directory.models import Service
from bot.errors import NotFound
from bot.incidents import timeline
from bot.incidents.events import EventBus, EventKind, IncidentEvent
from bot.incidents.models import Counter, Incident
from bot.incidents.states import OPEN_STATES, Action, Severity, State, next_state


def next_number(session: Session) -> int:
    """The next human incident number, atomically (row lock on PostgreSQL, database lock on SQLite)."""
    value = session.execute(
        update(Counter).where(Counter.name == "incident").values(value=Counter.value + 1).returning(Counter.value)
    ).scalar_one_or_none()
    if value is None:
        session.add(Counter(name="incident", value=1))
        session.flush()
        return 1
    return value


def open_incident(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    title: str,
    severity: Severity,
    service: Service | None,
    group_key: str,
    source: str,
    actor: str,
    summary: str = "",
    labels: dict[str, Any] | None = None,
    external_id: str | None = None,
    is_drill: bool = False,
    paging_suppressed: bool = False,
) -> Incident:
    now = clock.now()
    incident = Incident(
        number=next_number(session),
        title=title[:500],
        summary=summary,
        severity=severity.value,
        state=State.TRIGGERED.value,
        service_id=service.id if service else None,
        group_key=group_key,
        source=source,
        external_id=external_id,
        labels=labels or {},
        is_drill=is_drill,
        paging_suppressed=paging_suppressed,
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    label = "Drill incident" if is_drill else "Incident"
    timeline.record(
        session,
        incident=incident,
        at=now,
        kind="triggered",
        actor=actor,
        source=source,
        message=f"{label} #{incident.number} triggered ({severity.value}): {incident.title}",
        data={"paging_suppressed": paging_suppressed},
    )
    events.publish(session, _event(EventKind.TRIGGERED, incident, actor, source))
    return incident


def get(session: Session, *, number: int, for_update: bool = False) -> Incident:
    query = select(Incident).where(Incident.number == number)
    if for_update:
        query = query.with_for_update()
    incident = session.scalars(query).one_or_none()
    if incident is None:
        raise NotFound(f"no incident #{number}")
    return incident


def get_with_timeline(session: Session, *, number: int) -> Incident:
    incident = session.scalars(
        select(Incident)
        .where(Incident.number == number)
        .options(selectinload(Incident.timeline), selectinload(Incident.service))
    ).one_or_none()
    if incident is None:
        raise NotFound(f"no incident #{number}")
    return incident


def find_open(session: Session, *, service_id: int | None, group_key: str) -> Incident | None:
    """The open incident of a group, locked so that concurrent alerts of one group join one incident."""
    return session.scalars(
        select(Incident)
        .where(
            Incident.service_id.is_(None) if service_id is None else Incident.service_id == service_id,
            Incident.group_key == group_key,
            Incident.state.in_(OPEN_STATES),
        )
        .order_by(Incident.id.desc())
        .limit(1)
        .with_for_update()
    ).one_or_none()


def list_incidents(
    session: Session,
    *,
    states: list[str] | None = None,
    service: str | None = None,
    limit: int = 100,
) -> list[Incident]:
    query = select(Incident).options(selectinload(Incident.service)).order_by(Incident.number.desc())
    if states:
        query = query.where(Incident.state.in_(states))
    if service:
        query = query.join(Service, Service.id == Incident.service_id).where(Service.name == service)
    return list(session.scalars(query.limit(limit)))


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Incident.state, func.count()).group_by(Incident.state))
    return {state: count for state, count in rows}


def acknowledge(
    session: Session, *, clock: Clock, events: EventBus, incident: Incident, actor: str, source: str
) -> Incident:
    incident.state = next_state(incident.state, Action.ACKNOWLEDGE, incident.number).value
    incident.acknowledged_at = clock.now()
    incident.acknowledged_by = actor
    _changed(
        session,
        clock=clock,
        events=events,
        incident=incident,
        kind=EventKind.ACKNOWLEDGED,
        actor=actor,
        source=source,
        message=f"Acknowledged by {actor} via {source}",
    )
    return incident


def unacknowledge(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    incident: Incident,
    actor: str,
    source: str,
    reason: str,
) -> Incident:
    incident.state = next_state(incident.state, Action.UNACKNOWLEDGE, incident.number).value
    _changed(
        session,
        clock=clock,
        events=events,
        incident=incident,
        kind=EventKind.UNACKNOWLEDGED,
        actor=actor,
        source=source,
        message=f"Returned to triggered: {reason}",
        event_data={"reason": reason},
    )
    return incident


def resolve(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    incident: Incident,
    actor: str,
    source: str,
    note: str | None = None,
) -> Incident:
    incident.state = next_state(incident.state, Action.RESOLVE, incident.number).value
    incident.resolved_at = clock.now()
    incident.resolved_by = actor
    _changed(
        session,
        clock=clock,
        events=events,
        incident=incident,
        kind=EventKind.RESOLVED,
        actor=actor,
        source=source,
        message=f"Resolved by {actor} via {source}" + (f": {note}" if note else ""),
        data={"note": note} if note else {},
        event_data={"note": note},
    )
    return incident


def add_note(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    incident: Incident,
    actor: str,
    source: str,
    text: str,
) -> Incident:
    _changed(
        session,
        clock=clock,
        events=events,
        incident=incident,
        kind=EventKind.NOTE_ADDED,
        timeline_kind="note",
        actor=actor,
        source=source,
        message=text,
        event_data={"text": text},
    )
    return incident


@dataclass(frozen=True)
class AlertNote:
    """One alert change to show on an incident's timeline (kind: alert, alert_resolved or alert_info)."""

    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlertChanges:
    """The alert changes of one incident in one ingest batch."""

    incident: Incident
    actor: str
    source: str
    notes: list[AlertNote] = field(default_factory=list)
    added: int = 0  # distinct alerts that joined (the incident's alert count)


_INCIDENTS = Incident.__table__
# Built once: building the statement and computing its cache key cost more than running it for a batch of alerts.
_ADDED = json_rows("added", [("incident", Integer()), ("added", Integer()), ("now", _INCIDENTS.c.updated_at.type)])
_ADD_ALERTS = RowsWrite(
    "added",
    each=update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("incident"))
    .values(alert_count=_INCIDENTS.c.alert_count + bindparam("added"), updated_at=bindparam("now")),
    at_once=update(_INCIDENTS)
    .where(_INCIDENTS.c.id == _ADDED.c.incident)
    .values(alert_count=_INCIDENTS.c.alert_count + _ADDED.c.added, updated_at=_ADDED.c.now),
)
_RECORD_ALERTS = RowsWrites.of(_ADD_ALERTS, timeline.MANY)


def record_alerts(session: Session, *, clock: Clock, changes: Sequence[AlertChanges]) -> list[AlertChanges]:
    """Attach alert changes to incidents: a timeline entry each and the incidents' alert counts, written together
    (`db.RowsWrites`: one statement on PostgreSQL). Returns the changes that wrote something, for
    `publish_alerts_added`.

    Both writes are Core, not the unit of work: the ORM's per-object bookkeeping cost more than the SQL in an
    alert storm. The loaded incidents are brought up to date without being marked dirty, so no flush repeats it.
    Nothing here reads a result, so the caller may run it inside `db.pipelined` with its own writes; the events
    are published apart because their subscribers query.
    """
    now = clock.now()
    touched = [change for change in changes if change.notes]
    if not touched:
        return []
    session.flush()  # Core statements skip autoflush; entries added earlier (e.g. "triggered") must come first
    counts = [{"incident": change.incident.id, "added": change.added, "now": now} for change in touched]
    entries = [
        {
            "incident_id": change.incident.id,
            "at": now,
            "kind": note.kind,
            "actor": change.actor,
            "source": change.source,
            "message": note.message,
            "data": note.data,
        }
        for change in touched
        for note in change.notes
    ]
    _RECORD_ALERTS.execute(session, counts, entries)
    for change in touched:
        set_committed_value(change.incident, "alert_count", change.incident.alert_count + change.added)
        set_committed_value(change.incident, "updated_at", now)
    return touched


def publish_alerts_added(session: Session, *, events: EventBus, changes: Sequence[AlertChanges]) -> None:
    """One ALERT_ADDED event per incident of `record_alerts`, so an alert storm publishes one event per incident and
    batch, not one per alert."""
    for change in changes:
        events.publish(
            session,
            _event(
                EventKind.ALERT_ADDED,
                change.incident,
                change.actor,
                change.source,
                added=change.added,
                changes=len(change.notes),
            ),
        )


def raise_severity(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    incident: Incident,
    severity: Severity,
    actor: str,
    source: str,
    reason: str,
) -> bool:
    """Make an open incident more severe (P2 → P1) when a worse alert joins it; never lowers it."""
    previous = incident.severity
    if severity.value >= previous or incident.state not in OPEN_STATES:
        return False
    incident.severity = severity.value
    _changed(
        session,
        clock=clock,
        events=events,
        incident=incident,
        kind=EventKind.SEVERITY_RAISED,
        actor=actor,
        source=source,
        message=f"Severity raised from {previous} to {severity.value}: {reason}",
        data={"previous": previous},
        event_data={"previous": previous},
    )
    return True


def link_external(
    session: Session, *, clock: Clock, incident: Incident, external_id: str, system: str, actor: str, source: str
) -> None:
    """Record the id an outside system (VictorOps) gave this incident, so later changes can be synced to it."""
    now = clock.now()
    incident.external_id = external_id
    incident.updated_at = now
    timeline.record(
        session,
        incident=incident,
        at=now,
        kind="linked",
        actor=actor,
        source=source,
        message=f"Linked to {system} incident #{external_id}",
        data={"system": system, "external_id": external_id},
    )


def _changed(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    incident: Incident,
    kind: EventKind,
    actor: str,
    source: str,
    message: str,
    timeline_kind: str | None = None,
    data: dict[str, Any] | None = None,
    event_data: dict[str, Any] | None = None,
) -> None:
    """The common tail of every change: touch the incident, append its timeline entry, publish its event."""
    now = clock.now()
    incident.updated_at = now
    timeline.record(
        session,
        incident=incident,
        at=now,
        kind=timeline_kind or kind.value,
        actor=actor,
        source=source,
        message=message,
        data=data,
    )
    events.publish(session, _event(kind, incident, actor, source, **(event_data or {})))


def _event(kind: EventKind, incident: Incident, actor: str, source: str, **data: Any) -> IncidentEvent:
    return IncidentEvent(
        kind=kind, incident_id=incident.id, number=incident.number, actor=actor, source=source, data=data
    )
