"""The routing-key cache on both databases: a key moved or removed here takes effect at once, one changed by another
replica within the ttl, and nothing a rolled-back batch read is remembered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.app import build_runtime
from bot.clock import FakeClock
from bot.db import transaction
from bot.directory import service as directory_service
from bot.directory.models import RoutingKey, Service
from bot.incidents.models import Alert
from bot.ingestion.event import AlertAction, AlertEvent
from bot.ingestion.routing import RoutingCache
from bot.ingestion.service import IngestContext, Ingestor
from bot.runtime import Runtime
from tests.support.herald import make_settings


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = build_runtime(make_settings(database_url), FakeClock())
    yield runtime
    runtime.engine.dispose()


def _alert(key: str, routing_key: str) -> AlertEvent:
    return AlertEvent(
        source="alertmanager",
        action=AlertAction.TRIGGER,
        routing_key=routing_key,
        dedup_key=key,
        default_group=f"am:{key}",
        title=f"alert {key}",
        starts_at=datetime(2025, 11, 18, 14, tzinfo=UTC),
    )


def _service_of(runtime: Runtime, dedup_key: str) -> str:
    with runtime.sessions() as session:
        query = select(Service.name).join(Alert, Alert.service_id == Service.id).where(Alert.dedup_key == dedup_key)
        return session.scalars(query).one()


def test_a_routing_key_moved_or_removed_here_takes_effect_with_the_next_alert(runtime: Runtime) -> None:
    ingest = Ingestor(runtime.sessions, IngestContext(runtime.clock, runtime.events))
    ingest.commit([_alert("a", "checkout")])
    ingest.commit([_alert("b", "checkout")])  # served from the cache
    assert _service_of(runtime, "b") == "checkout"

    with transaction(runtime.sessions) as session:
        payments = directory_service.create_service(session, clock=runtime.clock, name="payments")
        directory_service.add_routing_key(session, service=payments, key="checkout")
    ingest.commit([_alert("c", "checkout")])
    assert _service_of(runtime, "c") == "payments"

    with transaction(runtime.sessions) as session:
        payments = directory_service.get_service(session, name="payments")
        directory_service.remove_routing_key(session, service=payments, key="checkout")
    ingest.commit([_alert("d", "checkout")])
    assert _service_of(runtime, "d") == "checkout"  # an unowned key joins the service named after it
    ingest.stop()


def test_a_change_made_by_another_replica_takes_effect_within_the_ttl(runtime: Runtime) -> None:
    now = [0.0]
    cache = RoutingCache(runtime.sessions, ttl=5.0, monotonic=lambda: now[0])
    with transaction(runtime.sessions) as session:
        first = directory_service.create_service(session, clock=runtime.clock, name="search", routing_keys=["s"]).id
        other = directory_service.create_service(session, clock=runtime.clock, name="search-v2").id

    def lookup() -> int:
        with transaction(runtime.sessions) as session:
            return cache.service_ids(session, clock=runtime.clock, keys={"s"})["s"]

    assert lookup() == first
    # Another replica moves the key: a connection of its own, unseen by this process's sessions.
    with runtime.engine.begin() as connection:
        connection.execute(RoutingKey.__table__.update().values(service_id=other))
    assert lookup() == first  # remembered
    now[0] = 5.0
    assert lookup() == other


def test_a_service_created_by_a_batch_that_rolled_back_is_not_remembered(runtime: Runtime) -> None:
    cache = RoutingCache(runtime.sessions)
    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        cache.service_ids(session, clock=runtime.clock, keys={"billing"})
        raise RuntimeError("the batch failed")
    with transaction(runtime.sessions) as session:
        service_id = cache.service_ids(session, clock=runtime.clock, keys={"billing"})["billing"]
    with runtime.sessions() as session:
        assert session.get(Service, service_id).name == "billing"
