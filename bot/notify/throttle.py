"""Per-person, per-channel rate limits: at most N notifications in a sliding window (e.g. 3 calls per 15 min).

Written as `voice=3/15m,slack_dm=10/15m,email=10/15m` (`HERALD_NOTIFY_THROTTLE`). The counting is the caller's (a
query over the notification table, so every replica sees the same history); this module parses the rule and decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Limit", "parse_limits"]

_RULE = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+)\s*/\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Limit:
    channel: str
    count: int
    window: timedelta

    def allows(self, recent: int) -> bool:
        """Whether one more is allowed when `recent` were sent within the window."""
        return recent < self.count

    def __str__(self) -> str:
        return f"at most {self.count} {self.channel} notification(s) per {self.window} per person"


def parse_limits(text: str) -> dict[str, Limit]:
    """Parse `channel=N/15m,...`; an empty text means no limits."""
    limits: dict[str, Limit] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _RULE.match(part)
        if not match:
            raise ValueError(f"throttle rule must look like voice=3/15m; not {part!r}")
        channel, count, amount, unit = match.groups()
        limits[channel] = Limit(channel, int(count), timedelta(**{_UNIT[unit]: int(amount)}))
    return limits
