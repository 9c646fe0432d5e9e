"""What ages and SLA clocks say on the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.web import format
from bot.web.queries import SlaClock

NOW = datetime(2025, 11, 18, 14, 0, tzinfo=UTC)


def test_ages_are_compact() -> None:
    assert [format.ago(NOW - timedelta(seconds=s), NOW) for s in (5, 600, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "5s",
        "10m",
        "3h 05m",
        "2d 04h",
    ]
    assert format.ago(NOW + timedelta(seconds=5), NOW) == "0s"  # a clock a little ahead never shows negative


def test_sla_clock_says_time_left_breach_or_met() -> None:
    due = NOW + timedelta(minutes=4, seconds=12)
    assert format.sla_text(SlaClock(due, None, None), NOW) == "4m 12s left"
    assert format.sla_text(SlaClock(due, None, None), due + timedelta(minutes=3)) == "breached 3m 00s ago"
    assert format.sla_text(SlaClock(due, due, None), due + timedelta(seconds=30)) == "breached 30s ago"
    assert format.sla_text(SlaClock(due, None, NOW), NOW + timedelta(hours=1)) == "SLA met"
    assert format.sla_text(SlaClock(due, None, due + timedelta(seconds=1)), NOW + timedelta(hours=1)) == "SLA breached"
    assert format.sla_text(SlaClock(None, None, None), NOW) == "no SLA"


def test_unknown_time_zones_are_ignored() -> None:
    assert format.zone("Europe/Stockholm").key == "Europe/Stockholm"
    assert format.zone("Mars/Olympus") is None and format.zone("") is None and format.zone("../etc") is None
