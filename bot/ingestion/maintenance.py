"""Maintenance windows: while one is open for a service (or for all services), its alerts are recorded on the
timeline but nothing pages: an incident they open carries `paging_suppressed`.

A window is open from `starts_at` until `ends_at` or until it is closed early (`closed_at`), e.g. by the CI/CD
pipeline that opened it for a canary release. Time comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory.models import Service
from bot.errors import InvalidInput, NotFound
from bot.ingestion.models import MaintenanceWindow

MAX_WINDOW = timedelta(days=31)


def is_open(window: MaintenanceWindow, at: datetime) -> bool:
    return window.closed_at is None and window.starts_at <= at < window.ends_at


def covers(windows: Sequence[MaintenanceWindow], service_id: int | None, at: datetime) -> MaintenanceWindow | None:
    """The open window that covers `service_id` at `at` (a window without a service covers every service)."""
    for window in windows:
        if (window.service_id is None or window.service_id == service_id) and is_open(window, at):
            return window
    return None


OPEN_AT = (
    select(MaintenanceWindow)
    .where(
        MaintenanceWindow.closed_at.is_(None),
        MaintenanceWindow.starts_at <= bindparam("at"),
        MaintenanceWindow.ends_at > bindparam("at"),
    )
    .order_by(MaintenanceWindow.id)
)  # built once: every ingest batch runs it (on PostgreSQL with its advisory locks added, see service.py)


def open_windows(session: Session, *, at: datetime) -> list[MaintenanceWindow]:
    return list(session.scalars(OPEN_AT, {"at": at}))


def start(
    session: Session,
    *,
    clock: Clock,
    service: Service | None,
    reason: str,
    actor: str,
    duration: timedelta,
    starts_at: datetime | None = None,
) -> MaintenanceWindow:
    now = clock.now()
    begin = starts_at or now
    if duration <= timedelta(0):
        raise InvalidInput("a maintenance window must last more than zero minutes")
    if duration > MAX_WINDOW:
        raise InvalidInput(f"a maintenance window may last at most {MAX_WINDOW.days} days")
    if begin + duration <= now:
        raise InvalidInput("that maintenance window would already be over")
    window = MaintenanceWindow(
        service_id=service.id if service else None,
        reason=reason,
        created_by=actor,
        starts_at=begin,
        ends_at=begin + duration,
    )
    session.add(window)
    session.flush()
    return window


def close(session: Session, *, clock: Clock, window_id: int) -> MaintenanceWindow:
    window = session.get(MaintenanceWindow, window_id, with_for_update=True)
    if window is None:
        raise NotFound(f"no maintenance window {window_id}")
    if window.closed_at is None:
        window.closed_at = min(clock.now(), window.ends_at)
    return window


def close_for_service(session: Session, *, clock: Clock, service: Service | None) -> list[MaintenanceWindow]:
    """Close every window of a service still open or scheduled (all-services windows when `service` is None)."""
    now = clock.now()
    owner = MaintenanceWindow.service_id.is_(None) if service is None else MaintenanceWindow.service_id == service.id
    windows = list(
        session.scalars(
            select(MaintenanceWindow)
            .where(owner, MaintenanceWindow.closed_at.is_(None), MaintenanceWindow.ends_at > now)
            .with_for_update()
        )
    )
    for window in windows:
        window.closed_at = now
    return windows


def current(session: Session, *, clock: Clock) -> list[MaintenanceWindow]:
    """Windows open now or scheduled to open later."""
    now = clock.now()
    query = select(MaintenanceWindow).where(MaintenanceWindow.closed_at.is_(None), MaintenanceWindow.ends_at > now)
    return list(session.scalars(query.order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)))
