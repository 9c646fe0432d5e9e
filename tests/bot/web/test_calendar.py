"""Week and month grids cut at the viewer's local midnights, DST days included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InvalidInput
from bot.schedules.service import ShiftView
from bot.web import calendar

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def shift(user: str, start: datetime, end: datetime, layer: str = "weekly") -> ShiftView:
    return ShiftView(schedule="s", user=user, name=user, slack_id=None, start=start, end=end, layer=layer)


def test_a_week_runs_monday_to_sunday_and_a_month_is_the_calendar_month() -> None:
    week = calendar.window("week", date(2025, 11, 20), STOCKHOLM)
    assert (week.first, week.days, week.previous, week.next) == (
        date(2025, 11, 17),
        7,
        date(2025, 11, 10),
        date(2025, 11, 24),
    )
    assert week.start == datetime(2025, 11, 16, 23, 0, tzinfo=UTC)
    month = calendar.window("month", date(2025, 2, 14), STOCKHOLM)
    assert (month.first, month.days, month.previous, month.next) == (
        date(2025, 2, 1),
        28,
        date(2025, 1, 1),
        date(2025, 3, 1),
    )
    with pytest.raises(InvalidInput, match="week or month"):
        calendar.window("year", date(2025, 1, 1), STOCKHOLM)


def test_an_overnight_shift_is_cut_at_local_midnight() -> None:
    span = calendar.window("week", date(2025, 11, 17), STOCKHOLM)
    night = shift("mara", datetime(2025, 11, 18, 17, 0, tzinfo=UTC), datetime(2025, 11, 19, 8, 0, tzinfo=UTC))
    days = {day.date: day.bars for day in calendar.days([night], span)}
    (evening,) = days[date(2025, 11, 18)]
    (morning,) = days[date(2025, 11, 19)]
    assert (evening.left, evening.width) == (75.0, 25.0)  # 18:00 to midnight local
    assert (morning.left, morning.width) == (0.0, 37.5)  # midnight to 09:00 local
    assert days[date(2025, 11, 17)] == ()


def test_a_dst_day_has_25_hours_and_bars_keep_real_time() -> None:
    span = calendar.window("week", date(2025, 10, 26), STOCKHOLM)  # clocks went back on Sunday 26 October
    noon = shift("ada", datetime(2025, 10, 26, 0, 0, tzinfo=UTC), datetime(2025, 10, 26, 12, 30, tzinfo=UTC))
    days = {day.date: day.bars for day in calendar.days([noon], span)}
    (bar,) = days[date(2025, 10, 26)]
    assert (bar.left, bar.width) == (8.0, 50.0)  # 2 h and 12.5 h of a 25-hour day


def test_overrides_and_merged_shifts_have_their_own_colours() -> None:
    classes = calendar.layer_classes(["primary", "secondary"])
    assert classes == {
        "primary": "layer-0",
        "secondary": "layer-1",
        "override": "layer-override",
        "mixed": "layer-mixed",
    }
