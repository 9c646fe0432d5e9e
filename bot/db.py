"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, sessions and transactions.

Every domain's models derive from `Base`; its naming convention gives constraints stable names, so Alembic migrations
are the same on both databases. Times are stored as UTC and always come back timezone-aware (`UTCDateTime`), because
SQLite forgets the zone and mixing naive and aware datetimes is a classic escalation-timer bug.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    DateTime,
    MetaData,
    Text,
    any_,
    bindparam,
    cast,
    column,
    create_engine,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is refused, as its zone is unknown."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
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


def on_postgresql(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (the alternative is SQLite): the one place that asks the dialect."""
    return session.get_bind().dialect.name == "postgresql"


def insert_or_ignore(session: Session, model: type[Base], values: dict[str, Any]) -> None:
    """`INSERT ... ON CONFLICT DO NOTHING` of one row: where its unique key exists already, the row there stays as it
    is. For idempotent writes that retries and racing replicas may repeat; both dialects spell it alike, but each
    needs its own construct."""
    insert = pg_insert if on_postgresql(session) else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


@contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """Statements executed inside share one round trip to PostgreSQL, sent with psycopg's pipeline mode and
    confirmed by one sync when the block ends; on SQLite, which has no round trips, the block runs as it is.

    Only for Core writes whose results nobody reads (executemany INSERT/UPDATE without RETURNING): psycopg may not
    have a pipelined statement's rows yet when SQLAlchemy looks at them, so the block first flushes the session, and
    nothing inside may query (no ORM flush, no SELECT, no event subscribers). An error of any statement surfaces at the
    latest when the block ends, raised as SQLAlchemy's DBAPIError like any other, so retries see its SQLSTATE.
    """
    if not on_postgresql(session):
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


def json_rows(name: str, columns: Iterable[tuple[str, TypeEngine[Any]]]) -> TableValuedAlias:
    """`json_to_recordset(CAST(:name AS JSON)) AS name(column type, ...)`: every row of a batch as one JSON
    parameter, for statements that read them as a table (INSERT ... SELECT, UPDATE ... FROM). PostgreSQL only."""
    source = func.json_to_recordset(cast(bindparam(name, type_=Text), JSON))
    return source.table_valued(*(column(key, type_) for key, type_ in columns)).render_derived(
        name=name, with_types=True
    )


@dataclass(frozen=True)
class RowsWrite:
    """One write of many rows (dicts with the same keys): `each` takes one row's bind parameters and runs as an
    executemany; `at_once` reads every row from `json_rows(name, ...)`, whose columns are named as the rows' keys."""

    name: str
    each: UpdateBase
    at_once: UpdateBase


@dataclass(frozen=True)
class RowsWrites:
    """Writes of many rows without results (so they may run inside `pipelined`), each with its own rows.

    On PostgreSQL they run as one statement, every write but the last in a WITH clause, with each write's rows as
    one JSON text made by the json module's C encoder: psycopg's executemany adapts and sends every parameter of
    every row in Python (16 alerts of bench/ingest.py: ~690 µs of CPU, against ~310 as one JSON parameter), and
    each statement costs SQLAlchemy, psycopg and the server their own overhead. Elsewhere (SQLite) each write runs
    as an executemany of `each`, handed to the driver with its values already converted (`_DriverStatement`).

    Each write's rows must not need another's: PostgreSQL runs the clauses of one statement on one snapshot, in no
    set order.
    """

    writes: tuple[RowsWrite, ...]
    at_once: UpdateBase
    _compiled: dict[tuple[str, tuple[str, ...]], _DriverStatement] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, *writes: RowsWrite) -> RowsWrites:
        *first, last = writes
        statement = last.at_once
        for write in first:
            statement = statement.add_cte(write.at_once.cte(f"write_{write.name}"))
        return cls(writes, statement)

    def execute(self, session: Session, *rows: Sequence[dict[str, Any]]) -> None:
        """Write `rows[i]` with `writes[i]`; empty ones are skipped."""
        if not any(rows):
            return
        if on_postgresql(session):
            session.execute(self.at_once, {w.name: _JSON.encode(r) for w, r in zip(self.writes, rows, strict=True)})
            return
        connection = session.connection()
        for write, some in zip(self.writes, rows, strict=True):
            if some:
                key = (write.name, tuple(some[0]))
                if key not in self._compiled:
                    self._compiled[key] = _DriverStatement.of(write.each, connection.dialect, key[1])
                self._compiled[key].execute(connection, some)


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled once and run by the driver's own executemany, each row's values converted in Python first.

    SQLAlchemy's executemany sends every value of every row through its generic parameter processing (on SQLite
    ~10 % of the ingest server's CPU in bench/ingest.py); here each parameter has its converter picked once. The
    converters are the types' own bind processors, except for `UTCDateTime`, whose chain (the decorator, then the
    dialect's string formatting) becomes one `isoformat` giving the same text.
    """

    sql: str
    keys: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, statement: UpdateBase, dialect: Dialect, keys: Sequence[str]) -> _DriverStatement:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup or ())
        types = [compiled.binds[name].type for name in names]
        return cls(str(compiled), names, tuple(_converter(type_, dialect) for type_ in types))

    def execute(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        pairs = list(zip(self.keys, self.converters, strict=True))
        values = [tuple(row[key] if convert is None else convert(row[key]) for key, convert in pairs) for row in rows]
        connection.exec_driver_sql(self.sql, values)


def _converter(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_datetime
    return type_.dialect_impl(dialect).bind_processor(dialect)


@lru_cache(maxsize=1024)
def _sqlite_datetime(value: datetime | None) -> str | None:
    """What `UTCDateTime` stores on SQLite: naive UTC as `2025-11-18 13:30:01.123456` (comparisons there are textual,
    so every row must have this one format). Cached: a batch writes the same few times (its clock reading, the
    sources' start times) in many rows."""
    return None if value is None else as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_value(value: object) -> str:
    """Datetimes as ISO 8601 in UTC with the offset, which PostgreSQL reads back exactly (naive ones refused by
    `as_utc`, as `UTCDateTime` refuses them)."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class AnyOf(ColumnElement[bool]):
    """`column IN (:name)`, the bind parameter a list: on PostgreSQL `column = ANY(:name)`, one array parameter, so
    the statement's text is the same for any number of values. An expanded IN list makes SQLAlchemy render the
    statement's text again at every execution and psycopg parse it again (~50 µs a statement); SQLite has no arrays.
    """

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        """A comparison already: never wrapped as `(...) = 1` where SQLite wants a boolean."""
        return self


@compiles(AnyOf)
def _any_of_as_in(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(AnyOf, "postgresql")
def _any_of_as_array(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)


_JSON = json.JSONEncoder(default=_json_value, check_circular=False)  # rows are trees: no cycle to look for (-12 %)
