"""iCalendar in and out: shifts exported as a feed people subscribe to, and a feed imported as a schedule layer.

Export uses `icalendar`; every event has a UID derived from schedule, person and start, so a calendar app that
re-reads the feed updates events instead of duplicating them. Import expands recurring events (RRULE, EXDATE,
RECURRENCE-ID) with `recurring-ical-events` over the window being evaluated, so a feed kept in another tool can be
one layer of a Herald schedule. The person of an imported event is its first `ATTENDEE` (mailto:), else an e-mail
address in its SUMMARY, else the SUMMARY itself (matched against user names).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Protocol

import icalendar
import recurring_ical_events

from bot.schedules.rotation import FixedLayer, Shift

__all__ = ["calendar_layer", "export_calendar", "feed_token", "parse_calendar"]

PRODID = "-//Herald//On-call schedules//EN"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class ShiftLike(Protocol):
    user: str
    start: datetime
    end: datetime
    layer: str


def export_calendar(title: str, shifts: Iterable[ShiftLike]) -> bytes:
    """A VCALENDAR with one event per shift (a shift with a `schedule` attribute is named after it)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", title)
    for shift in shifts:
        schedule = getattr(shift, "schedule", title)
        event = icalendar.Event()
        uid = hashlib.sha256(f"{schedule}|{shift.user}|{shift.start.isoformat()}".encode()).hexdigest()[:32]
        event.add("uid", f"{uid}@herald")
        event.add("summary", f"On call: {schedule} ({shift.user})")
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        event.add("dtstamp", shift.start.astimezone(UTC))
        event.add("description", f"{shift.user} is on call for {schedule} (layer: {shift.layer}).")
        calendar.add_component(event)
    return calendar.to_ical()


def parse_calendar(text: str) -> icalendar.Calendar:
    """Parse a feed, or raise ValueError saying why it is not one."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"not an iCalendar feed: {exc}") from None
    if calendar.name != "VCALENDAR":
        raise ValueError("not an iCalendar feed: it must start with BEGIN:VCALENDAR")
    for event in calendar.walk("VEVENT"):
        if _person(event) is None:
            raise ValueError(f"event {event.get('summary', '?')!r} names nobody (no ATTENDEE and no SUMMARY)")
    return calendar


def calendar_layer(name: str, text: str, start: datetime, end: datetime) -> FixedLayer:
    """The imported feed as a layer, expanded over [start, end)."""
    calendar = parse_calendar(text)
    shifts = []
    for event in recurring_ical_events.of(calendar).between(start, end):
        person = _person(event)
        begins, ends = _instant(event["DTSTART"].dt), _instant(event["DTEND"].dt)
        if person and ends > begins:
            shifts.append(Shift(person, begins, ends, name))
    return FixedLayer(name, tuple(sorted(shifts, key=lambda s: s.start)))


def _person(event: icalendar.Event) -> str | None:
    attendee = event.get("attendee")
    if attendee:
        first = attendee[0] if isinstance(attendee, list) else attendee
        address = str(first)
        return address[7:] if address.lower().startswith("mailto:") else address
    summary = str(event.get("summary", "")).strip()
    if not summary:
        return None
    found = _EMAIL.search(summary)
    return found.group(0) if found else summary


def _instant(value: datetime | date) -> datetime:
    """Event times as aware UTC; floating times are read as UTC, all-day dates start at midnight UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def feed_token(secret: str, kind: str, name: str) -> str:
    """The token in a calendar feed URL: calendar apps cannot send a bearer header, so the URL carries a MAC."""
    return hmac.new(secret.encode(), f"ical:{kind}:{name}".encode(), hashlib.sha256).hexdigest()[:32]
