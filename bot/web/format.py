"""How times, ages and SLA clocks read on the console (jinja2 filters), in the viewer's time zone.

The page shows these as rendered at request time; `static/console.js` keeps ages and SLA clocks ticking from the
`datetime` attributes, using the server's clock (sent with every page) rather than the browser's.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.postmortem.render import duration
from bot.web.queries import SlaClock

__all__ = ["ago", "duration", "local", "sla_text", "zone"]


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name, or None for an empty or unknown name."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local(at: datetime | None, tz: ZoneInfo, fmt: str = "%a %d %b %H:%M") -> str:
    return at.astimezone(tz).strftime(fmt) if at is not None else "—"


def ago(at: datetime, now: datetime) -> str:
    """A compact age: `45s`, `12m`, `3h 05m`, `2d 04h`."""
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def sla_text(sla: SlaClock, now: datetime) -> str:
    status = sla.status(now)
    if status == "none":
        return "no SLA"
    if status == "met":
        return "SLA met"
    if status == "running":
        assert sla.due_at is not None
        return f"{duration((sla.due_at - now).total_seconds())} left"
    since = sla.breached_at or sla.due_at
    if sla.answered_at is not None or since is None:
        return "SLA breached"
    return f"breached {duration((now - since).total_seconds())} ago"
