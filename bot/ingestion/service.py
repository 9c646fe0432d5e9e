"""Ingest: alert events in, incidents out, in one transaction per batch.

The work is set-based so that an alert storm costs a few statements per batch rather than per alert: maintenance
windows, known alerts and open incidents are each read once per batch (routing keys come from routing.py's cache),
then every event is decided in memory (dedup → maintenance → grouping) and the changes are written together
(`db.RowsWrites`: executemany statements on SQLite; on PostgreSQL two statements, alerts and incidents, whose rows
travel as JSON). One HTTP request is simply a batch of one, or of one Alertmanager group.

Decisions, in order, for each event:
- a delivery of a known alert that changes nothing (retry, repeat notification) is a duplicate: counted, never a
  second incident or notification; if it got worse (WARNING → CRITICAL) the incident's severity is raised;
- a recovery marks the alert resolved; when no alert of its incident is firing any more, the incident resolves;
- a VictorOps ACKNOWLEDGEMENT acknowledges the alert's incident (source "victorops", so it is not synced back);
- an informational event (VictorOps INFO, severity=info) never opens an incident: it is recorded on the open
  incident of its group, else on the service's most recent open incident, else kept as an alert without incident;
- a firing alert joins the open incident of its group (see grouping.py) or opens one; inside a maintenance window
  that incident is opened with `paging_suppressed`, so it is on record but pages nobody.

Concurrency: on PostgreSQL each batch takes a transaction-scoped advisory lock per service (in id order, so batches
never deadlock), which makes "find the open incident or open one" atomic across replicas; SQLite serialises writers
with BEGIN IMMEDIATE already.

Round trips: the writer thread waits idle on each while requests queue, so on PostgreSQL a batch of alerts that
open nothing makes six: BEGIN, the locks with the maintenance windows (`_lock_and_open_windows`), known alerts, open
incidents, every write at once (`db.pipelined`), COMMIT; the pool's ping is left out, as the writer keeps its
connection (`Ingestor._commit_on_writer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ARRAY, Integer, bindparam, func, insert, literal, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import AnyOf, RowsWrite, RowsWrites, json_rows, on_postgresql, pipelined, transaction
from bot.directory.models import Service
from bot.incidents import service as incident_service
from bot.incidents.events import EventBus
from bot.incidents.models import Alert, Incident
from bot.incidents.service import AlertChanges, AlertNote
from bot.incidents.states import OPEN_STATES, State
from bot.ingestion import grouping, maintenance
from bot.ingestion.dedup import AlertStatus, Step, classify
from bot.ingestion.event import AlertAction, AlertEvent
from bot.ingestion.grouping import GroupingRule
from bot.ingestion.models import MaintenanceWindow
from bot.ingestion.routing import RoutingCache
from bot.ingestion.statistics import AlertStatistics
from bot.ingestion.writer import GroupCommitWriter

LOCK_NAMESPACE = 0x4845  # first key of pg_advisory_xact_lock(int, int): "HE", for Herald's ingestion locks
CHUNK = 500  # keys per IN (...) list


class Outcome(StrEnum):
    OPENED = "opened"  # opened a new incident
    GROUPED = "grouped"  # joined an open incident
    ESCALATED = "escalated"  # a known alert got worse; its incident's severity was raised
    DUPLICATE = "duplicate"  # a repeated delivery: nothing changed
    RESOLVED = "resolved"  # the alert recovered
    ACKNOWLEDGED = "acknowledged"  # the source acknowledged the alert's incident
    RECORDED = "recorded"  # informational: recorded, no incident opened
    MAINTENANCE = "maintenance"  # opened an incident inside a maintenance window: on record, not paged
    IGNORED = "ignored"  # recovery/acknowledgement of an alert Herald never saw


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    dedup_key: str
    incident_number: int | None = None


@dataclass(frozen=True)
class IngestContext:
    clock: Clock
    events: EventBus
    rules: Sequence[GroupingRule] = ()


@dataclass(slots=True)
class _AlertRow:
    """One alert of the batch as a plain row with the columns of `Alert`: ORM objects cost ~10x more to build, and
    their unit of work flushes one change set per object. A known alert has its `id`: it is written back by one
    UPDATE; a new one has none and is inserted by one INSERT (both in `_write_alerts`)."""

    source: str
    dedup_key: str
    first_received_at: datetime
    status: str = ""
    severity: str = ""
    title: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    service_id: int | None = None
    incident_id: int | None = None
    in_maintenance: bool = False
    deliveries: int = 1
    starts_at: datetime | None = None
    last_received_at: datetime | None = None
    resolved_at: datetime | None = None
    id: int | None = None


_ALERTS = Alert.__table__
_INSERTED = [name for name in _AlertRow.__slots__ if name != "id"]
# Every column an event may change: a known alert of the batch had at least one delivery, so each is written back.
_UPDATED = [name for name in _INSERTED if name not in ("source", "dedup_key", "first_received_at")]
_NEW = json_rows("new_alerts", ((name, _ALERTS.c[name].type) for name in _INSERTED))
_KNOWN_ROWS = json_rows(
    "known_alerts", [("row_id", Integer()), *((f"new_{name}", _ALERTS.c[name].type) for name in _UPDATED)]
)
# The new alerts inserted and the known ones written back: no RETURNING of the new ids, even for a batch of one, so
# they may run inside `pipelined`.
_WRITE_ALERTS = RowsWrites.of(
    RowsWrite(
        "new_alerts",
        each=insert(_ALERTS).inline(),
        at_once=insert(_ALERTS).from_select(_INSERTED, select(*(_NEW.c[name] for name in _INSERTED))),
    ),
    RowsWrite(
        "known_alerts",
        each=update(_ALERTS)
        .where(_ALERTS.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in _UPDATED}),
        at_once=update(_ALERTS)
        .where(_ALERTS.c.id == _KNOWN_ROWS.c.row_id)
        .values({name: _KNOWN_ROWS.c[f"new_{name}"] for name in _UPDATED}),
    ),
)


@dataclass
class _Changes(AlertChanges):
    """What happened to one incident in this batch, written to its timeline in one go at the end."""

    resolved_alerts: int = 0
    truncated: int = 0


def ingest(
    session: Session,
    *,
    ctx: IngestContext,
    routing: RoutingCache,
    statistics: AlertStatistics,
    events: Sequence[AlertEvent],
) -> list[IngestResult]:
    if not events:
        return []
    return _Batch(session, ctx, routing, statistics, events).run()


class _Batch:
    def __init__(
        self,
        session: Session,
        ctx: IngestContext,
        routing: RoutingCache,
        statistics: AlertStatistics,
        events: Sequence[AlertEvent],
    ) -> None:
        self.session = session
        self.ctx = ctx
        self.routing = routing
        self.statistics = statistics
        self.events = events
        self.now = ctx.clock.now()
        self.changes: dict[int, _Changes] = {}

    def run(self) -> list[IngestResult]:
        session, events = self.session, self.events
        self.services = self.routing.service_ids(session, clock=self.ctx.clock, keys={e.routing_key for e in events})
        self.windows = _lock_and_open_windows(session, set(self.services.values()), at=self.now)
        self.alerts = _known_alerts(session, events)
        self.groups = {
            id(e): grouping.group_key(e, self.ctx.rules)
            for e in events
            if e.action in (AlertAction.TRIGGER, AlertAction.INFO)
        }
        self.open_by_group = _open_incidents(session, set(self.services.values()), set(self.groups.values()))
        self.incidents = {i.id: i for i in self.open_by_group.values()}
        self.incidents.update(_incidents(session, {a.incident_id for a in self.alerts.values()} - set(self.incidents)))
        self.latest_open: dict[int, Incident | None] = {}
        self.new_alerts: list[_AlertRow] = []
        results = [self._apply(event) for event in events]
        self._note_truncations()
        with pipelined(session):  # PostgreSQL: the batch's writes in one round trip
            self._write_alerts()
            touched = incident_service.record_alerts(session, clock=self.ctx.clock, changes=list(self.changes.values()))
        incident_service.publish_alerts_added(session, events=self.ctx.events, changes=touched)
        self._resolve_recovered()
        return results

    def _write_alerts(self) -> None:
        new = [{n: getattr(a, n) for n in _INSERTED} for a in self.new_alerts]
        known = [
            {"row_id": a.id, **{f"new_{n}": getattr(a, n) for n in _UPDATED}}
            for a in self.alerts.values()
            if a.id is not None
        ]
        _WRITE_ALERTS.execute(self.session, new, known)
        if new:
            self.statistics.inserted(self.session, len(new))

    # -- one event ---------------------------------------------------------------------------------------------

    def _apply(self, event: AlertEvent) -> IngestResult:
        alert = self.alerts.get((event.source, event.dedup_key))
        step = classify(alert.status if alert else None, event.action)
        if step is Step.IGNORE:
            return IngestResult(Outcome.IGNORED, event.dedup_key)
        if alert is not None:
            alert.deliveries += 1
            alert.last_received_at = self.now
        if step is Step.REPEAT:
            return self._repeat(event, alert)
        if step is Step.RESOLVE:
            return self._resolve(event, alert)
        if step is Step.ACKNOWLEDGE:
            return self._acknowledge(event, alert)
        if step is Step.INFO:
            return self._info(event)
        return self._fire(event, alert)

    def _repeat(self, event: AlertEvent, alert: _AlertRow) -> IngestResult:
        incident = self.incidents.get(alert.incident_id) if alert.incident_id else None
        number = incident.number if incident else None
        if event.action is AlertAction.TRIGGER and event.severity.value < alert.severity:
            alert.severity = event.severity.value
            alert.title = event.title
            alert.description = event.description
            if incident is not None and self._raise(incident, event, f"{event.title} is now {event.severity.value}"):
                return IngestResult(Outcome.ESCALATED, event.dedup_key, number)
        return IngestResult(Outcome.DUPLICATE, event.dedup_key, number)

    def _resolve(self, event: AlertEvent, alert: _AlertRow) -> IngestResult:
        alert.status = AlertStatus.RESOLVED.value
        alert.resolved_at = self.now
        incident = self.incidents.get(alert.incident_id) if alert.incident_id else None
        if incident is None:
            return IngestResult(Outcome.RESOLVED, event.dedup_key)
        changes = self._changes(incident, event.source)
        changes.resolved_alerts += 1
        changes.notes.append(
            AlertNote("alert_resolved", f"Alert resolved: {alert.title}", {"dedup_key": alert.dedup_key})
        )
        return IngestResult(Outcome.RESOLVED, event.dedup_key, incident.number)

    def _acknowledge(self, event: AlertEvent, alert: _AlertRow) -> IngestResult:
        incident = self.incidents.get(alert.incident_id) if alert.incident_id else None
        if incident is None or incident.state != State.TRIGGERED.value:
            return IngestResult(Outcome.DUPLICATE, event.dedup_key, incident.number if incident else None)
        actor = event.actor or event.source
        common = {"clock": self.ctx.clock, "events": self.ctx.events, "incident": incident, "source": event.source}
        incident_service.acknowledge(self.session, actor=actor, **common)
        if event.note:
            incident_service.add_note(self.session, actor=actor, text=event.note, **common)
        return IngestResult(Outcome.ACKNOWLEDGED, event.dedup_key, incident.number)

    def _info(self, event: AlertEvent) -> IngestResult:
        service_id = self.services[event.routing_key]
        incident = self.open_by_group.get((service_id, self.groups[id(event)])) or self._latest_open(service_id)
        self._store(event, None, incident, status=AlertStatus.INFO, window=None)
        if incident is None:
            return IngestResult(Outcome.RECORDED, event.dedup_key)
        self._changes(incident, event.source).notes.append(
            AlertNote("alert_info", f"Info: {event.title}", {"dedup_key": event.dedup_key})
        )
        return IngestResult(Outcome.RECORDED, event.dedup_key, incident.number)

    def _fire(self, event: AlertEvent, alert: _AlertRow | None) -> IngestResult:
        service_id = self.services[event.routing_key]
        group = self.groups[id(event)]
        window = maintenance.covers(self.windows, service_id, self.now)
        incident = self.open_by_group.get((service_id, group))
        if incident is None:
            incident = self._open(event, service_id, group, window)
            outcome = Outcome.MAINTENANCE if window else Outcome.OPENED
        else:
            outcome = Outcome.GROUPED
            self._raise(incident, event, f"{event.title} is {event.severity.value}")
        self._store(event, alert, incident, status=AlertStatus.FIRING, window=window)
        changes = self._changes(incident, event.source)
        changes.added += 1
        changes.truncated = max(changes.truncated, event.truncated)
        suffix = f" (maintenance window #{window.id}: {window.reason}; not paged)" if window else ""
        changes.notes.append(
            AlertNote(
                "alert",
                f"Alert firing ({event.severity.value}): {event.title}{suffix}",
                {"dedup_key": event.dedup_key, "severity": event.severity.value, "refire": alert is not None},
            )
        )
        return IngestResult(outcome, event.dedup_key, incident.number)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _open(self, event: AlertEvent, service_id: int, group: str, window: MaintenanceWindow | None) -> Incident:
        incident = incident_service.open_incident(
            self.session,
            clock=self.ctx.clock,
            events=self.ctx.events,
            title=event.incident_title or event.title,
            severity=event.severity,
            service=self.session.get(Service, service_id),
            group_key=group,
            source=event.source,
            actor=event.source,
            summary=event.description,
            labels=dict(event.labels),
            paging_suppressed=window is not None,
        )
        self.open_by_group[(service_id, group)] = incident
        self.incidents[incident.id] = incident
        return incident

    def _raise(self, incident: Incident, event: AlertEvent, reason: str) -> bool:
        return incident_service.raise_severity(
            self.session,
            clock=self.ctx.clock,
            events=self.ctx.events,
            incident=incident,
            severity=event.severity,
            actor=event.source,
            source=event.source,
            reason=reason,
        )

    def _store(
        self,
        event: AlertEvent,
        alert: _AlertRow | None,
        incident: Incident | None,
        *,
        status: AlertStatus,
        window: MaintenanceWindow | None,
    ) -> None:
        if alert is None:
            # A plain row, not an ORM object: inserted at the end of the batch (_write_alerts).
            alert = _AlertRow(source=event.source, dedup_key=event.dedup_key, first_received_at=self.now)
            self.new_alerts.append(alert)
            self.alerts[(event.source, event.dedup_key)] = alert
        alert.status = status.value
        alert.severity = event.severity.value
        alert.title = event.title
        alert.description = event.description
        alert.labels = dict(event.labels)
        alert.payload = dict(event.payload)
        alert.service_id = self.services[event.routing_key]
        alert.incident_id = incident.id if incident else None
        alert.in_maintenance = window is not None
        alert.starts_at = event.starts_at or self.now
        alert.last_received_at = self.now
        alert.resolved_at = None

    def _changes(self, incident: Incident, source: str) -> _Changes:
        if incident.id not in self.changes:
            self.changes[incident.id] = _Changes(incident, actor=source, source=source)
        return self.changes[incident.id]

    def _latest_open(self, service_id: int) -> Incident | None:
        if service_id not in self.latest_open:
            incident = self.session.scalars(
                select(Incident)
                .where(Incident.service_id == service_id, Incident.state.in_(OPEN_STATES))
                .order_by(Incident.id.desc())
                .limit(1)
            ).first()
            if incident is not None:
                incident = self.incidents.setdefault(incident.id, incident)
            self.latest_open[service_id] = incident
        return self.latest_open[service_id]

    def _note_truncations(self) -> None:
        for changes in self.changes.values():
            if changes.truncated and changes.added:
                changes.notes.append(
                    AlertNote(
                        "alerts_truncated",
                        f"Alertmanager left {changes.truncated} more alert(s) of this group out (max_alerts)",
                        {"truncated": changes.truncated},
                    )
                )

    def _resolve_recovered(self) -> None:
        """Resolve the incidents none of whose alerts fire any more."""
        candidates = [c for c in self.changes.values() if c.resolved_alerts and c.incident.state in OPEN_STATES]
        if not candidates:
            return
        self.session.flush()
        still_firing = _firing_counts(self.session, [c.incident.id for c in candidates])
        for changes in candidates:
            incident = changes.incident
            if still_firing.get(incident.id, 0):
                continue
            incident_service.resolve(
                self.session,
                clock=self.ctx.clock,
                events=self.ctx.events,
                incident=incident,
                actor=changes.source,
                source=changes.source,
                note=f"all {incident.alert_count} alert(s) resolved",
            )


# The statements of every batch are built once: building one and computing its cache key cost more than running it.
_LOCK = select(func.pg_advisory_xact_lock(literal(LOCK_NAMESPACE), bindparam("service_id", type_=Integer)))
_KNOWN = select(_ALERTS).where(_ALERTS.c.source == bindparam("source"), AnyOf(_ALERTS.c.dedup_key, "keys"))
_OPEN = (
    select(Incident)
    .where(
        AnyOf(Incident.service_id, "services"),
        AnyOf(Incident.group_key, "groups"),
        AnyOf(Incident.state, "states"),
    )
    .order_by(Incident.id)
    .with_for_update()
)
_BY_ID = select(Incident).where(AnyOf(Incident.id, "ids"))
_FIRING = (
    select(_ALERTS.c.incident_id, func.count())
    .where(AnyOf(_ALERTS.c.incident_id, "ids"), _ALERTS.c.status == AlertStatus.FIRING.value)
    .group_by(_ALERTS.c.incident_id)
)


# The advisory locks of a batch, in service id order (PostgreSQL sorts before it evaluates a volatile select list),
# as a scalar subquery: one that no column refers to is evaluated once, before any row is read, even from an empty
# table.
_SERVICE_IDS = func.unnest(bindparam("service_ids", type_=ARRAY(Integer))).table_valued("id").render_derived()
_LOCKS_IN_ORDER = (
    select(func.pg_advisory_xact_lock(literal(LOCK_NAMESPACE), _SERVICE_IDS.c.id).label("taken"))
    .order_by(_SERVICE_IDS.c.id)
    .subquery()
)
_LOCKED_WINDOWS = maintenance.OPEN_AT.where(select(func.count(_LOCKS_IN_ORDER.c.taken)).scalar_subquery() >= 0)


def _lock_and_open_windows(session: Session, service_ids: set[int], *, at: datetime) -> list[MaintenanceWindow]:
    """`lock_services`, then the maintenance windows open at `at`: on PostgreSQL in one statement, one round trip
    fewer per batch. The windows are then read as of the statement's start, before any wait for a lock: that is
    safe because no lock guards them (a window opened meanwhile is as if opened a moment after this batch). What
    the locks do guard, alerts and open incidents, is read by later statements, which see every commit before."""
    if not on_postgresql(session):
        return maintenance.open_windows(session, at=at)
    return list(session.scalars(_LOCKED_WINDOWS, {"at": at, "service_ids": sorted(service_ids)}))


def lock_services(session: Session, service_ids: Iterable[int]) -> None:
    """Serialise ingestion per service across replicas (PostgreSQL advisory locks, taken in id order)."""
    if not on_postgresql(session):
        return
    for service_id in sorted(service_ids):
        session.execute(_LOCK, {"service_id": service_id})


def _chunks(values: Sequence[str] | Sequence[int]) -> Iterable[list]:
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _known_alerts(session: Session, events: Sequence[AlertEvent]) -> dict[tuple[str, str], _AlertRow]:
    by_source: dict[str, set[str]] = {}
    for event in events:
        by_source.setdefault(event.source, set()).add(event.dedup_key)
    found = {}
    for source, keys in by_source.items():
        for chunk in _chunks(sorted(keys)):
            for row in session.execute(_KNOWN, {"source": source, "keys": chunk}).mappings():
                found[(source, row["dedup_key"])] = _AlertRow(**row)
    return found


_STATES = list(OPEN_STATES)


def _open_incidents(session: Session, service_ids: set[int], group_keys: set[str]) -> dict[tuple[int, str], Incident]:
    found: dict[tuple[int, str], Incident] = {}
    for chunk in _chunks(sorted(group_keys)):
        for incident in session.scalars(_OPEN, {"services": sorted(service_ids), "groups": chunk, "states": _STATES}):
            found[(incident.service_id, incident.group_key)] = incident  # the newest wins
    return found


def _incidents(session: Session, ids: set[int | None]) -> dict[int, Incident]:
    wanted = sorted(i for i in ids if i is not None)
    found = {}
    for chunk in _chunks(wanted):
        for incident in session.scalars(_BY_ID, {"ids": chunk}):
            found[incident.id] = incident
    return found


def _firing_counts(session: Session, incident_ids: list[int]) -> dict[int, int]:
    rows = session.execute(_FIRING, {"ids": incident_ids})
    return {incident_id: count for incident_id, count in rows}


class Ingestor:
    """Ingestion as the edges use it: events in, results out once durably committed (via group commit)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ctx: IngestContext,
        *,
        max_batch: int = 500,
    ) -> None:
        self._sessions = sessions
        self.ctx = ctx
        self._routing = RoutingCache(sessions)
        self._statistics = AlertStatistics()
        self._connection: Connection | None = None  # the writer thread's own (see `_commit_on_writer`)
        self._writer: GroupCommitWriter[AlertEvent, IngestResult] = GroupCommitWriter(
            self._commit_on_writer, max_batch=max_batch
        )

    def commit(self, events: Sequence[AlertEvent]) -> list[IngestResult]:
        """Ingest `events` in one transaction of the caller's thread, on a connection from the pool."""
        try:
            with transaction(self._sessions) as session:
                return self._ingest(session, events)
        except Exception:
            self._routing.forget()  # in case a remembered service was deleted by another replica meanwhile
            raise

    def _commit_on_writer(self, events: Sequence[AlertEvent]) -> list[IngestResult]:
        """`commit` for the writer thread, on a connection it keeps between batches: checking one out of the pool for
        every batch cost the pool's bookkeeping and, on PostgreSQL, its pre-ping, a round trip. A batch that fails
        closes the connection, so the retry (and every later batch) starts on a fresh one that the pool has pinged:
        a restarted database costs one failed attempt, which the writer retries."""
        if self._connection is None:
            self._connection = self._sessions.kw["bind"].connect()
        try:
            with self._sessions(bind=self._connection) as session, session.begin():
                return self._ingest(session, events)
        except Exception:
            self._routing.forget()
            self._connection.close()
            self._connection = None
            raise

    def _ingest(self, session: Session, events: Sequence[AlertEvent]) -> list[IngestResult]:
        return ingest(session, ctx=self.ctx, routing=self._routing, statistics=self._statistics, events=events)

    async def submit(self, events: Sequence[AlertEvent]) -> list[IngestResult]:
        """Ingest `events` on the writer thread, sharing a transaction with whatever else is waiting."""
        return await self._writer.submit(events)

    def stop(self) -> None:
        self._writer.stop()
        if self._connection is not None:  # the writer thread has ended: nothing uses it any more
            self._connection.close()
            self._connection = None
