"""Suite-wide fixtures: databases on both backends, settings and a running Herald."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.databases import PostgresFactory, SqliteFactory, postgres_available

if TYPE_CHECKING:
    from tests.support.herald import RunningHerald

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(scope="session")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> SqliteFactory:
    return SqliteFactory(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_factory() -> Iterator[PostgresFactory]:
    problem = postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (required in CI)")
        pytest.skip(problem)
    factory = PostgresFactory()
    yield factory
    factory.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database on each backend in turn."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_factory").new()
    return request.getfixturevalue("postgres_factory").new()


@pytest.fixture
def sqlite_url(sqlite_factory: SqliteFactory) -> str:
    """A fresh SQLite database, for tests whose subject is not the database."""
    return sqlite_factory.new()


@pytest.fixture
def herald(database_url: str, tmp_path: Path) -> Iterator[RunningHerald]:
    from tests.support.herald import make_settings, running_herald  # only bot tests pay for importing the app

    with running_herald(make_settings(database_url, data_dir=tmp_path)) as running:
        yield running


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
