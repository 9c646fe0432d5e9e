"""Alembic round trip on a populated database: upgrade → downgrade → upgrade keeps working on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from bot import migrate
from bot.cli import main
from tests.support.databases import PostgresFactory


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    factory: PostgresFactory = request.getfixturevalue("postgres_factory")
    return factory.empty()


def test_round_trip_on_a_populated_database(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO teams (name, settings) VALUES ('mlops', '{}')"),
        )
    tables = set(inspect(engine).get_table_names())
    assert {"incidents", "alerts", "timeline_entries", "outbox", "users", "services"} <= tables

    migrate.downgrade(empty_database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

    migrate.upgrade(empty_database_url)
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()


def test_cli_upgrade_and_downgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["db", "upgrade"], settings) == 0
    assert "upgraded" in capsys.readouterr().out
    assert main(["db", "downgrade", "base"], settings) == 0
    assert main(["db", "upgrade"], settings) == 0
