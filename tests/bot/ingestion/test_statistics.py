"""The alerts table's planner statistics are refreshed once enough alerts were inserted (PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import text

from bot.app import build_runtime
from bot.clock import FakeClock
from bot.db import transaction
from bot.ingestion.statistics import AlertStatistics
from tests.support.databases import PostgresFactory
from tests.support.herald import make_settings


def test_analyze_runs_once_the_inserted_alerts_add_up(postgres_factory: PostgresFactory) -> None:
    runtime = build_runtime(make_settings(postgres_factory.new()), FakeClock())
    statistics = AlertStatistics(every=3)

    def estimated_rows() -> float:
        with runtime.sessions() as session:  # -1 until the table was first analyzed
            return session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'alerts'"))

    try:
        with transaction(runtime.sessions) as session:
            statistics.inserted(session, 2)
        assert estimated_rows() == -1
        with transaction(runtime.sessions) as session:
            statistics.inserted(session, 1)  # 3 since the last ANALYZE, in two batches
        assert estimated_rows() == 0
    finally:
        runtime.engine.dispose()
