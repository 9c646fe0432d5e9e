"""The durable outbox: idempotent enqueue, retries with backoff, failures on the timeline, no double sends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event

from bot.app import build_runtime
from bot.clock import FakeClock
from bot.db import as_utc
from bot.incidents import service
from bot.incidents.states import Severity
from bot.notify.outbox import DebouncedJobs, OutboxMessage, OutboxWorker, PermanentFailure, RetryPolicy, enqueue
from tests.support.herald import make_settings


def _incident(runtime, clock):
    with runtime.transaction() as session:
        incident = service.open_incident(
            session,
            clock=clock,
            events=runtime.events,
            title="t",
            severity=Severity.P2,
            service=None,
            group_key="g",
            source="manual",
            actor="test",
        )
        return incident.id


def test_enqueue_is_idempotent_and_failures_retry_then_succeed(database_url: str) -> None:
    clock = FakeClock()
    runtime = build_runtime(make_settings(database_url), clock)
    incident_id = _incident(runtime, clock)
    with runtime.transaction() as session:
        for _ in range(3):
            enqueue(session, clock=clock, kind="probe", key="probe:1", payload={"n": 1}, incident_id=incident_id)

    calls: list[int] = []

    def flaky(message: OutboxMessage) -> None:
        calls.append(message.attempts)
        if len(calls) < 3:
            raise ConnectionError("remote down")

    worker = OutboxWorker(runtime.sessions, clock, {"probe": flaky}, RetryPolicy(base_seconds=10))
    assert worker.run_once() == 1
    assert worker.run_once() == 0  # backing off: nothing due yet
    clock.advance(10)
    assert worker.run_once() == 1
    clock.advance(19)
    assert worker.run_once() == 0
    clock.advance(1)
    assert worker.run_once() == 1
    assert calls == [1, 2, 3]

    with runtime.transaction() as session:
        message = session.query(OutboxMessage).filter_by(kind="probe").one()
        assert message.status == "sent"
        kinds = [e.kind for e in service.get_with_timeline(session, number=1).timeline]
    assert kinds.count("delivery_retry") == 2
    runtime.engine.dispose()


def test_permanent_failure_gives_up_and_says_so(database_url: str) -> None:
    clock = FakeClock()
    runtime = build_runtime(make_settings(database_url), clock)
    incident_id = _incident(runtime, clock)
    with runtime.transaction() as session:
        enqueue(session, clock=clock, kind="probe", key="k", payload={}, incident_id=incident_id)

    def refuse(_message: OutboxMessage) -> None:
        raise PermanentFailure("HTTP 400: unknown incident")

    OutboxWorker(runtime.sessions, clock, {"probe": refuse}).run_once()
    with runtime.transaction() as session:
        assert session.query(OutboxMessage).filter_by(kind="probe").one().status == "failed"
        last = service.get_with_timeline(session, number=1).timeline[-1]
    assert last.kind == "delivery_failed" and "unknown incident" in last.message
    runtime.engine.dispose()


def test_concurrent_workers_deliver_each_message_once(database_url: str) -> None:
    clock = FakeClock()
    runtime = build_runtime(make_settings(database_url), clock)
    with runtime.transaction() as session:
        for i in range(60):
            enqueue(session, clock=clock, kind="probe", key=f"k{i}", payload={"i": i})
    delivered: list[int] = []
    lock = threading.Lock()

    def record(message: OutboxMessage) -> None:
        with lock:
            delivered.append(message.payload["i"])

    workers = [OutboxWorker(runtime.sessions, clock, {"probe": record}) for _ in range(3)]
    threads = [threading.Thread(target=lambda w=w: [w.run_once(batch=7) for _ in range(12)]) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(delivered) == list(range(60))
    runtime.engine.dispose()


def test_debounced_jobs_insert_once_per_window_and_forget_a_rolled_back_one(database_url: str) -> None:
    clock = FakeClock()
    runtime = build_runtime(make_settings(database_url), clock)
    incident_id = _incident(runtime, clock)
    window = timedelta(seconds=10)
    clock.set(datetime.fromtimestamp((clock.now().timestamp() // 10 + 1) * 10, UTC))
    start = clock.now()
    jobs = DebouncedJobs("probe", window)
    statements: list[str] = []
    sa_event.listen(runtime.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def change() -> None:
        with runtime.transaction() as session:
            jobs.enqueue(session, clock=clock, incident_id=incident_id, payload={"n": 1})

    def rows() -> list[tuple[str, datetime]]:
        with runtime.sessions() as session:
            found = session.query(OutboxMessage).filter_by(kind="probe").order_by(OutboxMessage.id)
            return [(m.idempotency_key, as_utc(m.next_attempt_at)) for m in found]

    with pytest.raises(RuntimeError), runtime.transaction() as session:  # rolled back: not remembered
        jobs.enqueue(session, clock=clock, incident_id=incident_id, payload={"n": 1})
        raise RuntimeError("the change failed")
    assert jobs.due(clock, incident_id) and rows() == []

    change()
    assert not jobs.due(clock, incident_id)
    statements.clear()
    clock.advance(9)
    change()  # same window: known to be committed, so no statement at all
    assert not any("outbox" in sql for sql in statements)
    clock.advance(1)
    assert jobs.due(clock, incident_id)
    change()
    assert rows() == [
        (f"probe:{incident_id}:alerts:{int(start.timestamp() // 10)}", start + window),
        (f"probe:{incident_id}:alerts:{int(start.timestamp() // 10) + 1}", start + 2 * window),
    ]
    runtime.engine.dispose()
