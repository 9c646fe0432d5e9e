"""Time as an injected dependency: the only place `bot/` reads the wall clock.

Escalation, SLA clocks, schedules, outbox backoff, throttles and maintenance windows all take a `Clock`, so scenario
tests move time with `FakeClock.advance()` instead of sleeping (after trio's MockClock).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to, and never backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 11, 18, 14, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by a timedelta or a number of seconds; returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("time never goes backwards")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("time never goes backwards")
            self._now = when


class FileClock:
    """Testing aid (`HERALD_CLOCK_FILE`): the time is the ISO-8601 instant written in a file.

    Lets a test move time inside a real `herald serve` process (the crash and multi-replica tests) by rewriting one
    file; never set it in production. Like FakeClock it never goes backwards.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        text = self._path.read_text().strip()
        read = datetime.fromisoformat(text) if text else self._last
        with self._lock:
            self._last = max(self._last, as_utc(read))
            return self._last


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes (as SQLite returns them) as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
