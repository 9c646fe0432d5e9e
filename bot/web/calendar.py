"""The on-call page's week and month grids: rendered shifts cut into the viewer's local days.

Pure: the schedules domain renders the final shifts (layers and overrides applied) in UTC; this cuts them at the
viewer's local midnights, so a shift from 18:00 to 09:00 shows as two bars, and a DST day is 23 or 25 hours long
with its bars placed by real elapsed time. Positions are percentages of the day, drawn as SVG by the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import InvalidInput
from bot.schedules.service import ShiftView

VIEWS = ("week", "month")


@dataclass(frozen=True)
class Window:
    view: str
    first: date
    days: int
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        return midnight(self.first + timedelta(days=self.days), self.zone)

    @property
    def previous(self) -> date:
        if self.view == "week":
            return self.first - timedelta(days=7)
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return self.first + timedelta(days=self.days)


@dataclass(frozen=True)
class Bar:
    shift: ShiftView
    start: datetime  # clipped to the day
    end: datetime
    left: float  # percent of the day
    width: float


@dataclass(frozen=True)
class Day:
    date: date
    bars: tuple[Bar, ...]


def window(view: str, anchor: date, zone: ZoneInfo) -> Window:
    """The Monday-to-Sunday week, or the calendar month, that contains `anchor`."""
    if view not in VIEWS:
        raise InvalidInput(f"view must be week or month, not {view!r}")
    if view == "week":
        return Window(view, anchor - timedelta(days=anchor.weekday()), 7, zone)
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Window(view, first, (following - first).days, zone)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def days(shifts: Sequence[ShiftView], span: Window) -> list[Day]:
    found = []
    for offset in range(span.days):
        day = span.first + timedelta(days=offset)
        start, end = midnight(day, span.zone), midnight(day + timedelta(days=1), span.zone)
        length = (end - start).total_seconds()
        bars = []
        for shift in shifts:
            left, right = max(shift.start, start), min(shift.end, end)
            if left >= right:
                continue
            bars.append(
                Bar(
                    shift=shift,
                    start=left,
                    end=right,
                    left=round(100 * (left - start).total_seconds() / length, 3),
                    width=round(100 * (right - left).total_seconds() / length, 3),
                )
            )
        found.append(Day(day, tuple(bars)))
    return found


def layer_classes(layers: Sequence[str]) -> dict[str, str]:
    """A CSS class per layer name (a palette of six), plus the fixed ones for overrides and merged shifts."""
    classes = {name: f"layer-{index % 6}" for index, name in enumerate(layers)}
    return classes | {"override": "layer-override", "mixed": "layer-mixed"}
