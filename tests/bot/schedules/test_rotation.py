"""Who is on call, and the rendered shifts, across DST changes, leap days, layers, restrictions and overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.schedules.overrides import Override
from bot.schedules.rotation import (
    Restriction,
    RotationLayer,
    ScheduleSpec,
    ShiftLength,
    parse_weekdays,
    render,
    shift_at,
    who_is_on_call,
)

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def daily(start: datetime, people: tuple[str, ...] = ("alice", "bob", "carol"), zone: str = BERLIN) -> RotationLayer:
    return RotationLayer("primary", zone, start, ShiftLength.parse("daily"), people)


def test_daily_handoff_stays_at_nine_local_across_spring_forward() -> None:
    spec = ScheduleSpec("s", BERLIN, (daily(datetime(2025, 3, 28, 9, 0)),))
    shifts = render(spec, utc(2025, 3, 28, 8), utc(2025, 4, 1, 7))
    # 09:00 CET is 08:00 UTC, 09:00 CEST is 07:00 UTC: the shift over the change is 23 h long.
    assert [(s.user, s.start, s.end) for s in shifts] == [
        ("alice", utc(2025, 3, 28, 8), utc(2025, 3, 29, 8)),
        ("bob", utc(2025, 3, 29, 8), utc(2025, 3, 30, 7)),
        ("carol", utc(2025, 3, 30, 7), utc(2025, 3, 31, 7)),
        ("alice", utc(2025, 3, 31, 7), utc(2025, 4, 1, 7)),
    ]
    assert shifts[1].end - shifts[1].start == timedelta(hours=23)


def test_daily_handoff_across_fall_back_is_25_hours() -> None:
    spec = ScheduleSpec("s", BERLIN, (daily(datetime(2025, 10, 25, 9, 0)),))
    on_call = shift_at(spec, utc(2025, 10, 26, 1))
    assert on_call is not None and on_call.user == "alice"
    assert (on_call.start, on_call.end) == (utc(2025, 10, 25, 7), utc(2025, 10, 26, 8))
    assert on_call.end - on_call.start == timedelta(hours=25)


def test_handoff_inside_the_dst_gap_moves_to_the_first_valid_instant() -> None:
    layer = RotationLayer("night", BERLIN, datetime(2025, 3, 29, 2, 30), ShiftLength.parse("1d"), ("a", "b"))
    spec = ScheduleSpec("s", BERLIN, (layer,))
    # 2025-03-30 02:30 does not exist in Berlin; the hand-off happens at 03:30 CEST = 01:30 UTC.
    assert who_is_on_call(spec, utc(2025, 3, 30, 1, 29)).user == "a"
    assert who_is_on_call(spec, utc(2025, 3, 30, 1, 30)).user == "b"


def test_hourly_rotation_counts_elapsed_time_across_dst() -> None:
    layer = RotationLayer("12h", BERLIN, datetime(2025, 3, 29, 20, 0), ShiftLength.parse("12h"), ("a", "b"))
    spec = ScheduleSpec("s", BERLIN, (layer,))
    shifts = render(spec, utc(2025, 3, 29, 19), utc(2025, 3, 31, 0))
    assert all(s.end - s.start == timedelta(hours=12) for s in shifts[:-1])
    assert shifts[1].start == utc(2025, 3, 30, 7)  # 09:00 CEST: twelve real hours after 20:00 CET


def test_weekly_rotation_over_a_leap_day() -> None:
    layer = RotationLayer("w", "America/New_York", datetime(2024, 2, 26, 10), ShiftLength.parse("weekly"), ("a", "b"))
    spec = ScheduleSpec("s", "America/New_York", (layer,))
    assert who_is_on_call(spec, utc(2024, 2, 29, 12)).user == "a"
    assert who_is_on_call(spec, utc(2024, 3, 4, 14, 59)).user == "a"
    assert who_is_on_call(spec, utc(2024, 3, 4, 15)).user == "b"  # 10:00 EST on Monday 4 March
    assert who_is_on_call(spec, utc(2024, 3, 11, 14)).user == "a"  # 10:00 EDT after 10 March's change


def test_nobody_before_the_rotation_starts() -> None:
    spec = ScheduleSpec("s", BERLIN, (daily(datetime(2025, 6, 1, 9)),))
    assert who_is_on_call(spec, utc(2025, 5, 31)) is None
    assert render(spec, utc(2025, 5, 30), utc(2025, 6, 1, 7)) == []


def test_higher_layer_wins_only_inside_its_restriction() -> None:
    base = daily(datetime(2025, 11, 17, 9), ("night-owl",))
    office = RotationLayer(
        "office",
        BERLIN,
        datetime(2025, 11, 17, 9),
        ShiftLength.parse("1w"),
        ("dora",),
        (Restriction(parse_weekdays(["mon-fri"]), time(9), time(18)),),
    )
    spec = ScheduleSpec("s", BERLIN, (base, office))
    assert who_is_on_call(spec, utc(2025, 11, 18, 10)).user == "dora"  # Tuesday 11:00 Berlin
    assert who_is_on_call(spec, utc(2025, 11, 18, 17, 30)).user == "night-owl"  # 18:30 Berlin
    assert who_is_on_call(spec, utc(2025, 11, 22, 10)).user == "night-owl"  # Saturday
    shifts = render(spec, utc(2025, 11, 18, 0), utc(2025, 11, 19, 0))
    assert [(s.user, s.start.hour, s.end.hour) for s in shifts] == [
        ("night-owl", 0, 8),
        ("dora", 8, 17),
        ("night-owl", 17, 0),
    ]


def test_restriction_over_midnight() -> None:
    night = Restriction(parse_weekdays(["weekdays"]), time(22), time(6))
    layer = RotationLayer("n", "UTC", datetime(2025, 1, 6), ShiftLength.parse("1w"), ("nina",), (night,))
    spec = ScheduleSpec("s", "UTC", (layer,))
    assert who_is_on_call(spec, utc(2025, 1, 10, 23)).user == "nina"  # Friday night
    assert who_is_on_call(spec, utc(2025, 1, 11, 5)).user == "nina"  # …until Saturday 06:00
    assert who_is_on_call(spec, utc(2025, 1, 11, 23)) is None


def test_override_across_a_handoff_and_a_swap() -> None:
    spec = ScheduleSpec(
        "s",
        BERLIN,
        (daily(datetime(2025, 11, 17, 9)),),
        (
            Override(utc(2025, 11, 17, 20), utc(2025, 11, 18, 12), "zoe"),
            Override(utc(2025, 11, 19, 0), utc(2025, 11, 21, 0), "yan", replaces="carol"),
        ),
    )
    shifts = render(spec, utc(2025, 11, 17, 8), utc(2025, 11, 20, 8))
    assert [(s.user, s.start, s.end, s.layer) for s in shifts] == [
        ("alice", utc(2025, 11, 17, 8), utc(2025, 11, 17, 20), "primary"),
        ("zoe", utc(2025, 11, 17, 20), utc(2025, 11, 18, 12), "override"),  # spans the 08:00 UTC hand-off
        ("bob", utc(2025, 11, 18, 12), utc(2025, 11, 19, 8), "primary"),
        ("yan", utc(2025, 11, 19, 8), utc(2025, 11, 20, 8), "override"),  # only carol's turn is swapped
    ]


@pytest.mark.parametrize("text", ["0d", "fortnightly", "3x", "-1h"])
def test_bad_shift_lengths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="shift length"):
        ShiftLength.parse(text)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]),
    days=st.integers(min_value=1, max_value=9),
    hour=st.integers(min_value=0, max_value=23),
    offset_hours=st.integers(min_value=0, max_value=24 * 400),
)
def test_rendered_shifts_agree_with_who_is_on_call(zone: str, days: int, hour: int, offset_hours: int) -> None:
    layer = RotationLayer("r", zone, datetime(2023, 12, 1, hour), ShiftLength(days, "d"), ("a", "b", "c"))
    spec = ScheduleSpec("s", zone, (layer,))
    start = utc(2024, 1, 2) + timedelta(hours=offset_hours)
    shifts = render(spec, start, start + timedelta(days=20))
    assert shifts[0].start == start and shifts[-1].end == start + timedelta(days=20)
    for left, right in itertools.pairwise(shifts):
        assert left.end == right.start and left.user != right.user
        assert who_is_on_call(spec, right.start).user == right.user
        assert who_is_on_call(spec, right.start - timedelta(microseconds=1)).user == left.user
