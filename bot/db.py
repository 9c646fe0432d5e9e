"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, sessions and transactions.

Every domain's models derive from `Base`; its naming convention gives constraints stable names, so Alembic migrations
are the same on both databases. Times are stored as UTC and always come back timezone-aware (`UTCDateTime`), because
SQLite forgets the zone and mixing naive and aware datetimes is a classic escalation-timer bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs for a multi-threaded server.

    SQLite: WAL journal (readers don't block the writer), foreign keys on, a busy timeout instead of instant
    "database is locked" errors, and `BEGIN IMMEDIATE` so a read-then-write transaction takes the write lock up
    front rather than failing half way. PostgreSQL: pre-ping to survive server restarts.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception (nothing half-written)."""
    with session_factory() as session, session.begin():
        yield session


@contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """Statements executed inside share one round trip to PostgreSQL, sent with psycopg's pipeline mode and
    confirmed by one sync when the block ends; on SQLite, which has no round trips, the block runs as it is.

    Only for Core writes whose results nobody reads (executemany INSERT/UPDATE without RETURNING): psycopg may not
    have a pipelined statement's rows yet when SQLAlchemy looks at them, so the block first flushes the session, and
    nothing inside may query (no ORM flush, no SELECT, no event subscribers). An error of any statement surfaces at the
    latest when the block ends, raised as SQLAlchemy's DBAPIError like any other, so retries see its SQLSTATE.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    import psycopg  # only PostgreSQL deployments have it

    session.flush()
    connection = session.connection().connection.dbapi_connection
    try:
        with connection.pipeline():
            yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc
