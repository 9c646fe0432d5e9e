"""Routing key → service id, remembered between ingest batches.

Every batch needs the service of each routing key it carries, and the answer almost never changes; reading it costs
a join and ORM objects per batch (and a round trip on PostgreSQL). So the ids (never ORM objects, which belong to one
session) are kept for `ttl` seconds, and forgotten as soon as a transaction of this process that changed a routing
key or a service commits: SQLAlchemy session events on the sessionmaker watch every session for it, so the directory
code needs no hook. A change made by another replica takes effect here within `ttl`.

An answer is remembered only once the batch that read it has committed and only if nothing was forgotten meanwhile,
so neither a service created by a batch that then rolled back nor a key moved during the read is ever cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Set
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction, sessionmaker

from bot.clock import Clock
from bot.directory import service as directory_service
from bot.directory.models import RoutingKey, Service

_WATCHED = (RoutingKey, Service)


class RoutingCache:
    def __init__(
        self, sessions: sessionmaker[Session], *, ttl: float = 5.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._expires = 0.0
        self._generation = 0  # bumped whenever the cache forgets, so a read that straddles a change is not kept
        # session.info keys of this cache (several caches may watch one sessionmaker): the transaction changed a
        # routing key or a service; (generation, ids) it read, remembered once it commits.
        self._changed = (self, "changed")
        self._staged = (self, "staged")
        event.listen(sessions, "before_flush", self._before_flush)
        event.listen(sessions, "do_orm_execute", self._on_execute)
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_soft_rollback", self._after_rollback)

    def service_ids(self, session: Session, *, clock: Clock, keys: Set[str]) -> dict[str, int]:
        """The service id of every key, creating a service named after each key nobody owns yet."""
        with self._lock:
            if self._monotonic() >= self._expires:
                self._forget()
            found = {key: self._ids[key] for key in keys if key in self._ids}
            generation = self._generation
        missing = keys - found.keys()
        if missing:
            read = directory_service.resolve_routing_keys(session, clock=clock, keys=missing)
            ids = {key: service.id for key, service in read.items()}
            session.info[self._staged] = (generation, ids)
            found.update(ids)
        return found

    def forget(self) -> None:
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._ids.clear()
        self._expires = self._monotonic() + self._ttl
        self._generation += 1

    def _before_flush(self, session: Session, _flush: UOWTransaction, _instances: Any) -> None:
        if any(isinstance(o, _WATCHED) for objects in (session.new, session.dirty, session.deleted) for o in objects):
            session.info[self._changed] = True

    def _on_execute(self, state: ORMExecuteState) -> None:
        if not state.is_select and state.bind_mapper is not None and state.bind_mapper.class_ in _WATCHED:
            state.session.info[self._changed] = True

    def _after_commit(self, session: Session) -> None:
        changed = session.info.pop(self._changed, False)
        staged = session.info.pop(self._staged, None)
        if changed:
            self.forget()
        elif staged is not None:
            generation, ids = staged
            with self._lock:
                if generation == self._generation:
                    self._ids.update(ids)

    def _after_rollback(self, session: Session, previous: SessionTransaction) -> None:
        if previous.nested:  # a savepoint: what the transaction did before it still stands
            return
        session.info.pop(self._changed, None)
        session.info.pop(self._staged, None)
