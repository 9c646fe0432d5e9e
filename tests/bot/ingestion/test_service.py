"""The ingest service on both databases: storms, dedup under concurrency, grouping, resolution, maintenance."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from bot.app import build_runtime
from bot.clock import FakeClock
from bot.db import pipelined, transaction
from bot.directory.models import Service
from bot.incidents.events import EventKind, IncidentEvent
from bot.incidents.models import Alert, Incident, TimelineEntry
from bot.incidents.states import Severity
from bot.ingestion import maintenance
from bot.ingestion.event import AlertAction, AlertEvent
from bot.ingestion.grouping import parse_rules
from bot.ingestion.routing import RoutingCache
from bot.ingestion.service import LOCK_NAMESPACE, IngestContext, Ingestor, Outcome, ingest
from bot.ingestion.statistics import AlertStatistics
from bot.runtime import Runtime
from tests.support.databases import PostgresFactory
from tests.support.herald import make_settings


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = build_runtime(make_settings(database_url), FakeClock())
    yield runtime
    runtime.engine.dispose()


def ingestor(runtime: Runtime, rules: str = "") -> Ingestor:
    return Ingestor(runtime.sessions, IngestContext(runtime.clock, runtime.events, parse_rules(_yaml(rules))))


def _yaml(text: str) -> object:
    import yaml

    return yaml.safe_load(text) if text else None


def alert(
    key: str,
    group: str = "g",
    action: AlertAction = AlertAction.TRIGGER,
    severity: Severity = Severity.P1,
    routing_key: str = "tts-inference",
    labels: dict[str, str] | None = None,
) -> AlertEvent:
    return AlertEvent(
        source="alertmanager",
        action=action,
        routing_key=routing_key,
        dedup_key=key,
        default_group=f"am:{group}",
        severity=severity,
        title=f"alert {key}",
        incident_title=f"group {group}",
        labels=labels or {},
        starts_at=datetime(2025, 11, 18, 14, tzinfo=UTC),
    )


def triggered_events(runtime: Runtime) -> list[IncidentEvent]:
    seen: list[IncidentEvent] = []
    runtime.events.subscribe(lambda _s, e: seen.append(e) if e.kind is EventKind.TRIGGERED else None)
    return seen


def count(runtime: Runtime, query) -> int:
    with runtime.sessions() as session:
        return session.scalar(query)


@pytest.mark.slow
def test_an_alert_storm_of_100000_alerts_over_100_groups_ends_as_100_incidents(runtime: Runtime) -> None:
    triggered = triggered_events(runtime)
    events = [alert(f"fp{n:06d}", group=f"group-{n % 100}") for n in range(100_000)]
    random.Random(7).shuffle(events)
    retried = random.Random(8).sample(events, 5_000)  # retried deliveries, mixed into later batches
    deliveries = events + retried
    ingest = ingestor(runtime)
    for start in range(0, len(deliveries), 5_000):
        ingest.commit(deliveries[start : start + 5_000])

    assert count(runtime, select(func.count()).select_from(Incident)) == 100
    assert len(triggered) == 100
    assert count(runtime, select(func.count()).select_from(Alert)) == 100_000
    assert count(runtime, select(func.sum(Incident.alert_count))) == 100_000
    assert count(runtime, select(func.sum(Alert.deliveries))) == 105_000
    assert count(runtime, select(func.count(func.distinct(Incident.group_key)))) == 100


def test_concurrent_deliveries_of_the_same_alerts_make_one_incident_per_group(runtime: Runtime) -> None:
    triggered = triggered_events(runtime)
    events = [alert(f"fp{n}", group=f"g{n % 3}", routing_key=f"svc-{n % 2}") for n in range(30)]
    ingest = ingestor(runtime)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver(seed: int) -> None:
        batch = list(events)
        random.Random(seed).shuffle(batch)
        barrier.wait()
        try:
            for start in range(0, 30, 5):
                ingest.commit(batch[start : start + 5])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(triggered) == 6  # 3 groups x 2 services
    assert count(runtime, select(func.count()).select_from(Incident)) == 6
    assert count(runtime, select(func.count()).select_from(Alert)) == 30
    assert count(runtime, select(func.sum(Alert.deliveries))) == 120


def test_incident_resolves_only_when_all_its_alerts_have(runtime: Runtime) -> None:
    ingest = ingestor(runtime)
    [opened, grouped] = ingest.commit([alert("a"), alert("b")])
    assert (opened.outcome, grouped.outcome) == (Outcome.OPENED, Outcome.GROUPED)
    number = opened.incident_number
    assert ingest.commit([alert("a", action=AlertAction.RESOLVE)])[0].outcome is Outcome.RESOLVED
    with runtime.sessions() as session:
        assert session.scalars(select(Incident.state)).one() == "triggered"
    runtime.clock.advance(60)
    ingest.commit([alert("b", action=AlertAction.RESOLVE)])
    with runtime.sessions() as session:
        incident = session.scalars(select(Incident)).one()
        kinds = [e.kind for e in incident.timeline if e.source == "alertmanager"]  # other domains add their own
    assert incident.state == "resolved" and incident.number == number
    assert kinds == ["triggered", "alert", "alert", "alert_resolved", "alert_resolved", "resolved"]
    assert "all 2 alert(s) resolved" in incident.timeline[-1].message
    # A second recovery is a duplicate, and a new episode of the group opens a new incident.
    assert ingest.commit([alert("b", action=AlertAction.RESOLVE)])[0].outcome is Outcome.DUPLICATE
    assert ingest.commit([alert("b")])[0].outcome is Outcome.OPENED


def test_a_still_firing_alert_repeated_after_a_manual_resolve_does_not_page_again(runtime: Runtime) -> None:
    from bot.incidents import service as incident_service

    triggered = triggered_events(runtime)
    ingest = ingestor(runtime)
    number = ingest.commit([alert("a")])[0].incident_number
    with runtime.transaction() as session:
        incident = incident_service.get(session, number=number, for_update=True)
        incident_service.resolve(
            session, clock=runtime.clock, events=runtime.events, incident=incident, actor="mara", source="api"
        )
    result = ingest.commit([alert("a")])[0]
    assert (result.outcome, result.incident_number) == (Outcome.DUPLICATE, number)
    assert len(triggered) == 1


def test_alert_counts_and_timeline_order_across_batches(runtime: Runtime) -> None:
    # The counts are written by one set-based UPDATE per batch, the entries by one INSERT: the incident's own
    # "triggered" entry (added through the ORM) must still come first, and a refire must not count twice.
    ingest = ingestor(runtime)
    ingest.commit([alert("a"), alert("b"), alert("a")])
    ingest.commit([alert("c"), alert("b", action=AlertAction.RESOLVE)])
    ingest.commit([alert("b")])
    with runtime.sessions() as session:
        incident = session.scalars(select(Incident)).one()
        kinds = [e.kind for e in incident.timeline if e.source == "alertmanager"]
        assert incident.alert_count == 4  # a, b, c, and b's refire after its recovery
        assert kinds == ["triggered", "alert", "alert", "alert", "alert_resolved", "alert"]
        assert incident.updated_at == runtime.clock.now()


def test_a_batch_stores_every_value_of_its_alerts_and_entries_as_given(runtime: Runtime) -> None:
    # The rows travel as one JSON text (db.RowsWrites): times with another offset, nested JSON, quotes, non-ASCII
    # text and NULLs must come back exactly as the ORM would have written them, new rows and updated ones, and the
    # times must compare in SQL as the ORM's do (on SQLite they are compared as text).
    payload = {"annotations": {"summary": 'disk "sda" \\ 99 %', "runbook": None}, "values": [1, 2.5, True], "ü": "ß"}
    labels = {"team": "tts", "note": "l'été \u2603"}
    starts = datetime(2025, 11, 18, 15, 30, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    first = replace(alert("k", labels=labels), payload=payload, starts_at=starts, description="line 1\nline 2")
    ingest = ingestor(runtime)
    ingest.commit([first])
    received = runtime.clock.now()
    runtime.clock.advance(timedelta(seconds=5))
    ingest.commit([alert("k", action=AlertAction.RESOLVE)])
    with runtime.sessions() as session:
        stored = session.scalars(select(Alert)).one()
        found_by_times = session.scalars(
            select(Alert.id).where(
                Alert.starts_at == starts, Alert.first_received_at == received, Alert.resolved_at > received
            )
        ).all()
        entries = session.scalars(
            select(TimelineEntry).where(TimelineEntry.kind.startswith("alert")).order_by(TimelineEntry.id)
        ).all()
    assert (stored.labels, stored.payload, stored.description) == (labels, payload, "line 1\nline 2")
    assert (stored.starts_at, stored.first_received_at) == (starts, received)
    assert (stored.status, stored.resolved_at, stored.deliveries) == ("resolved", runtime.clock.now(), 2)
    assert stored.starts_at.utcoffset() == timedelta(0)
    assert found_by_times == [stored.id]
    assert [(e.kind, e.data) for e in entries] == [
        ("alert", {"dedup_key": "k", "severity": "P1", "refire": False}),
        ("alert_resolved", {"dedup_key": "k"}),
    ]
    assert entries[-1].at == runtime.clock.now()


def test_informational_alerts_never_open_an_incident(runtime: Runtime) -> None:
    triggered = triggered_events(runtime)
    ingest = ingestor(runtime)
    info = alert("i1", group="restarts", action=AlertAction.INFO, severity=Severity.P3)
    assert ingest.commit([info])[0].outcome is Outcome.RECORDED
    assert count(runtime, select(func.count()).select_from(Incident)) == 0
    number = ingest.commit([alert("a", group="latency")])[0].incident_number
    # Another group's info lands on the service's open incident, without changing its alert count.
    later = ingest.commit([alert("i2", group="restarts", action=AlertAction.INFO, severity=Severity.P3)])[0]
    assert (later.outcome, later.incident_number) == (Outcome.RECORDED, number)
    with runtime.sessions() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.alert_count == 1 and incident.timeline[-1].kind == "alert_info"
    assert len(triggered) == 1


def test_a_worse_alert_raises_the_incident_severity(runtime: Runtime) -> None:
    ingest = ingestor(runtime)
    ingest.commit([alert("a", severity=Severity.P2)])
    assert ingest.commit([alert("a", severity=Severity.P1)])[0].outcome is Outcome.ESCALATED
    ingest.commit([alert("b", severity=Severity.P2)])
    with runtime.sessions() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.severity == "P1"
        assert [e.kind for e in incident.timeline].count("severity_raised") == 1


def test_grouping_rules_join_alerts_of_different_source_groups(runtime: Runtime) -> None:
    rules = "- {name: tts, match: {service: tts-inference, env: prod}, group_by: [service, env]}"
    ingest = ingestor(runtime, rules)
    labels = {"service": "tts-inference", "env": "prod"}
    results = ingest.commit([alert("a", "latency", labels=labels), alert("b", "gpu", labels=labels)])
    assert [r.outcome for r in results] == [Outcome.OPENED, Outcome.GROUPED]
    staging = ingest.commit([alert("c", "gpu", labels={**labels, "env": "staging"})])[0]
    assert staging.outcome is Outcome.OPENED and staging.incident_number != results[0].incident_number


def test_alerts_in_a_maintenance_window_are_recorded_but_not_paged(runtime: Runtime) -> None:
    ingest = ingestor(runtime)
    ingest.commit([alert("x", routing_key="other")])  # creates the services
    ingest.commit([alert("y", routing_key="tts-inference")])
    with runtime.transaction() as session:
        from bot.directory import service as directory_service

        svc = directory_service.get_service(session, name="tts-inference")
        maintenance.start(
            session,
            clock=runtime.clock,
            service=svc,
            reason="canary v1.1.0",
            actor="ci",
            duration=timedelta(minutes=30),
        )
    inside = ingest.commit([alert("a", group="canary")])[0]
    elsewhere = ingest.commit([alert("b", group="canary", routing_key="other")])[0]
    assert inside.outcome is Outcome.MAINTENANCE and elsewhere.outcome is Outcome.OPENED
    with runtime.sessions() as session:
        incident = session.scalars(select(Incident).where(Incident.number == inside.incident_number)).one()
        assert incident.paging_suppressed and "not paged" in incident.timeline[-1].message
        assert session.scalars(select(Alert.in_maintenance).where(Alert.dedup_key == "a")).one()
    runtime.clock.advance(timedelta(minutes=31))
    after = ingest.commit([alert("c", group="after")])[0]
    assert after.outcome is Outcome.OPENED


def test_a_batch_holds_the_lock_of_each_of_its_services_until_it_commits(postgres_factory: PostgresFactory) -> None:
    """On PostgreSQL the locks are taken inside the statement that reads the maintenance windows; with no window at
    all (nothing for that statement to read) they must be taken all the same."""
    runtime = build_runtime(make_settings(postgres_factory.new()), FakeClock())
    ctx = IngestContext(runtime.clock, runtime.events)

    def lock_is_free(service_id: int) -> bool:
        with runtime.engine.connect() as other:  # another replica's connection; its lock ends with its transaction
            return other.scalar(select(func.pg_try_advisory_xact_lock(LOCK_NAMESPACE, service_id)))

    try:
        with transaction(runtime.sessions) as session:
            events = [alert("a", routing_key="svc-a"), alert("b", routing_key="svc-b")]
            routing, statistics = RoutingCache(runtime.sessions), AlertStatistics()
            ingest(session, ctx=ctx, routing=routing, statistics=statistics, events=events)
            service_ids = session.scalars(select(Service.id)).all()
            assert len(service_ids) == 2
            assert not any(lock_is_free(service_id) for service_id in service_ids)
        assert all(lock_is_free(service_id) for service_id in service_ids)
    finally:
        runtime.engine.dispose()


def test_a_pipelined_write_that_fails_raises_a_database_error(runtime: Runtime) -> None:
    """The batch's writes share one round trip on PostgreSQL, where an error surfaces only when the pipeline ends:
    it must still arrive as SQLAlchemy's error with its SQLSTATE (the writer retries deadlocks by it), and roll back
    everything the batch wrote."""
    row = {"source": "test", "dedup_key": "k", "status": "firing", "severity": "P1", "title": "t"}
    row |= {"first_received_at": runtime.clock.now(), "last_received_at": runtime.clock.now()}
    with pytest.raises(IntegrityError), transaction(runtime.sessions) as session, pipelined(session):
        session.execute(insert(Alert.__table__).inline(), [row | {"dedup_key": "other"}, row])
        session.execute(insert(Alert.__table__).inline(), [row])
    assert count(runtime, select(func.count()).select_from(Alert)) == 0


def test_the_writer_keeps_one_connection_and_replaces_it_after_a_failed_batch(runtime: Runtime) -> None:
    """The writer thread's batches share one connection (no pool checkout, no pre-ping per batch); a batch that fails
    gives it up, the next batch starts on a fresh one, and stopping the ingestor hands it back to the pool."""
    checkouts: list[object] = []
    event.listen(runtime.engine, "checkout", lambda dbapi_connection, *_: checkouts.append(dbapi_connection))

    def boom(_session: object, incident_event: IncidentEvent) -> None:
        if incident_event.kind is EventKind.TRIGGERED and incident_event.number == 2:
            raise RuntimeError("subscriber failed")

    runtime.events.subscribe(boom)
    ingest = ingestor(runtime)

    async def deliveries() -> None:
        assert (await ingest.submit([alert("a")]))[0].outcome is Outcome.OPENED
        assert (await ingest.submit([alert("b")]))[0].outcome is Outcome.GROUPED
        assert len(checkouts) == 1
        with pytest.raises(RuntimeError, match="subscriber failed"):
            await ingest.submit([alert("c", group="other")])  # would open incident #2
        assert (await ingest.submit([alert("d")]))[0].outcome is Outcome.GROUPED
        assert len(checkouts) == 2

    asyncio.run(deliveries())
    ingest.stop()
    assert runtime.engine.pool.checkedout() == 0
    assert count(runtime, select(func.count()).select_from(Alert)) == 3  # a, b, d; c rolled back


def test_the_writer_survives_its_connection_being_dropped(postgres_factory: PostgresFactory) -> None:
    """The writer's kept connection is not pinged before each batch: when the server drops it (a restart, an idle
    timeout), the batch fails on it once and is retried on a fresh connection, and no alert is lost."""
    runtime = build_runtime(make_settings(postgres_factory.new()), FakeClock())
    ingest = ingestor(runtime)

    async def deliveries() -> None:
        assert (await ingest.submit([alert("a")]))[0].outcome is Outcome.OPENED
        with runtime.engine.connect() as admin:  # the writer's connection is the only other one to this database
            writer = admin.scalar(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            )
            assert admin.scalar(select(func.pg_terminate_backend(writer)))
        assert (await ingest.submit([alert("b")]))[0].outcome is Outcome.GROUPED

    try:
        asyncio.run(deliveries())
        ingest.stop()
        assert count(runtime, select(func.count()).select_from(Alert)) == 2
    finally:
        runtime.engine.dispose()
