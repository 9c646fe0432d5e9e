"""Throw-away databases for the test suite: a SQLite file or a PostgreSQL database per test.

Each backend is migrated once per run into a template; every test then gets a copy (a file copy for SQLite,
`CREATE DATABASE ... TEMPLATE` for PostgreSQL), which is fast and keeps tests independent. The PostgreSQL databases
of a run share a random prefix and are dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from bot import migrate

PG_ADMIN_DSN = os.environ.get("HERALD_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {exc}"


def sqlalchemy_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


class SqliteFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        migrate.upgrade(f"sqlite:///{self.template}")
        self._count = 0

    def new(self) -> str:
        self._count += 1
        path = self.root / f"test-{self._count}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"


class PostgresFactory:
    def __init__(self) -> None:
        self.prefix = f"herald_test_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_template"
        self._created: list[str] = []
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        self._created.append(self.template)
        migrate.upgrade(sqlalchemy_url(PG_ADMIN_DSN, self.template))

    def new(self) -> str:
        name = f"{self.prefix}_{len(self._created)}"
        self._admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.template))
        )
        self._created.append(name)
        return sqlalchemy_url(PG_ADMIN_DSN, name)

    def empty(self) -> str:
        """A database with no tables at all (for migration tests)."""
        name = f"{self.prefix}_{len(self._created)}"
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return sqlalchemy_url(PG_ADMIN_DSN, name)

    def drop_all(self) -> None:
        for name in reversed(self._created):
            self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @staticmethod
    def _admin(statement: sql.Composable) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
            connection.execute(statement)
