"""Who is on call at an instant, and the final shifts of a range: pure functions over a frozen schedule.

A schedule is an ordered stack of layers (a later layer wins wherever it has someone) with overrides on top. A
rotation layer hands off every N hours, days or weeks at a wall-clock time in an IANA zone. Day and week rotations
are *calendar* rotations: a 09:00 hand-off stays at 09:00 local across DST, so a shift that spans the change is an
hour shorter or longer, as people expect. An hour rotation is *elapsed* time (a 12 h shift is always 12 h). A
hand-off that falls in a DST gap moves to the first valid instant after it (zoneinfo's fold=0 reading); an ambiguous
hand-off in a DST overlap happens at its first occurrence.

Rendering works on change points: every instant where any layer, restriction window or override may change hands is
collected, the on-call person is evaluated once per interval, and equal neighbours are merged. That keeps the
precedence rules in exactly one function (`who_is_on_call`), so the rendered shifts can never disagree with it.

Hand-written because no maintained library models layered on-call rotations; `zoneinfo` does the time-zone work.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.schedules.overrides import Override, apply_overrides

__all__ = [
    "Layer",
    "OnCall",
    "Restriction",
    "RotationLayer",
    "ScheduleSpec",
    "Shift",
    "ShiftLength",
    "render",
    "shift_at",
    "upcoming_shifts",
    "who_is_on_call",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in `tz` as an aware UTC instant (gaps move forward, overlaps take the first)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def wall_clock(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


_LENGTH = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")


@dataclass(frozen=True)
class ShiftLength:
    """How long one turn lasts: `hours` are elapsed time, `days` (weeks are 7 days) are calendar days."""

    amount: int
    unit: str  # "h" | "d"

    @classmethod
    def parse(cls, text: str) -> ShiftLength:
        named = {"hourly": "1h", "daily": "1d", "weekly": "1w"}
        match = _LENGTH.match(named.get(text.strip().lower(), text).lower())
        if not match or int(match.group(1)) <= 0:
            raise ValueError(f"shift length must be daily, weekly or like 12h, 3d, 2w; not {text!r}")
        amount, unit = int(match.group(1)), match.group(2)
        return cls(amount * 7, "d") if unit == "w" else cls(amount, unit)

    def __str__(self) -> str:
        if self.unit == "d" and self.amount % 7 == 0:
            return f"{self.amount // 7}w"
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True)
class Restriction:
    """A window of the week (local time) in which a layer is active, e.g. Mon–Fri 09:00–18:00.

    An `end` at or before `start` crosses midnight (22:00–06:00 ends the next morning).
    """

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def windows(self, tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The UTC windows that overlap [start, end)."""
        first = wall_clock(start, tz).date() - timedelta(days=1)
        last = wall_clock(end, tz).date()
        day = first
        while day <= last:
            if day.weekday() in self.days:
                opens = localize(datetime.combine(day, self.start), tz)
                closing_day = day + timedelta(days=1) if self.end <= self.start else day
                closes = localize(datetime.combine(closing_day, self.end), tz)
                if opens < end and closes > start:
                    yield opens, closes
            day += timedelta(days=1)

    def contains(self, tz: ZoneInfo, at: datetime) -> bool:
        return any(True for _ in self.windows(tz, at, at + timedelta(microseconds=1)))


class Layer(Protocol):
    """One layer of a schedule: who it puts on call at an instant, and where that may change."""

    name: str

    def on_call(self, at: datetime) -> str | None: ...

    def changes(self, start: datetime, end: datetime) -> Iterable[datetime]:
        """Instants in (start, end) at which `on_call` may change (extra ones are harmless)."""
        ...


@dataclass(frozen=True)
class RotationLayer:
    """Participants take turns in order from `start` (a wall-clock time in `time_zone`)."""

    name: str
    time_zone: str
    start: datetime  # naive wall-clock time of the first hand-off
    length: ShiftLength
    participants: tuple[str, ...]
    restrictions: tuple[Restriction, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def boundary(self, k: int) -> datetime:
        """The UTC instant at which turn `k` starts."""
        if self.length.unit == "d":
            return localize(self.start + timedelta(days=self.length.amount * k), self.tz)
        return localize(self.start, self.tz) + timedelta(hours=self.length.amount * k)

    def turn(self, at: datetime) -> int:
        """The index of the turn running at `at` (negative before the rotation starts)."""
        if self.length.unit == "h":
            elapsed = (at - localize(self.start, self.tz)) / timedelta(hours=self.length.amount)
            return math.floor(elapsed)
        elapsed = (wall_clock(at, self.tz) - self.start) / timedelta(days=self.length.amount)
        k = math.floor(elapsed)
        while self.boundary(k) > at:
            k -= 1
        while self.boundary(k + 1) <= at:
            k += 1
        return k

    def on_call(self, at: datetime) -> str | None:
        if not self.participants:
            return None
        k = self.turn(at)
        if k < 0:
            return None
        if self.restrictions and not any(r.contains(self.tz, at) for r in self.restrictions):
            return None
        return self.participants[k % len(self.participants)]

    def changes(self, start: datetime, end: datetime) -> Iterator[datetime]:
        k = max(self.turn(start) + 1, 0)
        while (at := self.boundary(k)) < end:
            if at > start:
                yield at
            k += 1
        for restriction in self.restrictions:
            for opens, closes in restriction.windows(self.tz, start, end):
                yield from (t for t in (opens, closes) if start < t < end)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    time_zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class OnCall:
    user: str
    layer: str  # the layer's name, or "override"


@dataclass(frozen=True)
class Shift:
    user: str
    start: datetime
    end: datetime
    layer: str


def who_is_on_call(spec: ScheduleSpec, at: datetime) -> OnCall | None:
    """The person on call at `at`: the highest layer with someone, then overrides (the newest first)."""
    base: OnCall | None = None
    for layer in reversed(spec.layers):
        user = layer.on_call(at)
        if user:
            base = OnCall(user, layer.name)
            break
    replaced = apply_overrides(spec.overrides, at, base.user if base else None)
    if replaced is not None:
        return OnCall(replaced, "override")
    return base


def _change_points(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    points = {start, end}
    for layer in spec.layers:
        points.update(layer.changes(start, end))
    for override in spec.overrides:
        points.update(t for t in (override.start, override.end) if start < t < end)
    return sorted(points)


def render(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts in [start, end) after layers and overrides, clipped to the range; gaps have no shift."""
    shifts: list[Shift] = []
    points = _change_points(spec, start, end)
    for left, right in itertools.pairwise(points):
        on_call = who_is_on_call(spec, left)
        if on_call is None:
            continue
        if shifts and shifts[-1].user == on_call.user and shifts[-1].end == left:
            previous = shifts[-1]
            layer = previous.layer if previous.layer == on_call.layer else "mixed"
            shifts[-1] = Shift(previous.user, previous.start, right, layer)
        else:
            shifts.append(Shift(on_call.user, left, right, on_call.layer))
    return shifts


SEARCH_HORIZON = timedelta(days=62)


def shift_at(spec: ScheduleSpec, at: datetime, horizon: timedelta = SEARCH_HORIZON) -> Shift | None:
    """The whole shift running at `at` (its true start and end, looked up within `horizon` either side)."""
    for shift in render(spec, at - horizon, at + horizon):
        if shift.start <= at < shift.end:
            return shift
    return None


def upcoming_shifts(
    spec: ScheduleSpec, after: datetime, count: int = 3, horizon: timedelta = SEARCH_HORIZON
) -> list[Shift]:
    """The next `count` shifts starting at or after `after` (within `horizon`); one already running is not next."""
    just_before = after - timedelta(microseconds=1)
    return [s for s in render(spec, just_before, after + horizon) if s.start >= after][:count]


@dataclass(frozen=True)
class FixedLayer:
    """A layer of explicit shifts (an imported calendar, already expanded for a range)."""

    name: str
    shifts: Sequence[Shift] = field(default_factory=tuple)

    def on_call(self, at: datetime) -> str | None:
        for shift in self.shifts:
            if shift.start <= at < shift.end:
                return shift.user
        return None

    def changes(self, start: datetime, end: datetime) -> Iterator[datetime]:
        for shift in self.shifts:
            yield from (t for t in (shift.start, shift.end) if start < t < end)


def parse_weekdays(values: Iterable[str | int]) -> frozenset[int]:
    days: set[int] = set()
    for value in values:
        text = str(value).strip().lower()
        if "-" in text:
            first, _, last = text.partition("-")
            a, b = WEEKDAYS.index(first[:3]), WEEKDAYS.index(last[:3])
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif text in ("weekdays", "workdays"):
            days.update(range(5))
        elif text in ("weekend", "weekends"):
            days.update((5, 6))
        else:
            days.add(WEEKDAYS.index(text[:3]))
    return frozenset(days)
