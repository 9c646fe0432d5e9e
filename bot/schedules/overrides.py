"""Overrides and swaps: time-bounded changes laid over a schedule's layers.

An override with no `replaces` puts `user` on call for its whole window, whoever the layers say. A swap (`replaces`
set) only takes over while the layers would put that person on call, which is how "Bob covers Alice's Tuesday" is
written without caring when exactly Alice's shift starts. When overrides overlap, the newest one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Override", "apply_overrides"]


@dataclass(frozen=True)
class Override:
    start: datetime
    end: datetime
    user: str
    replaces: str | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")

    def covers(self, at: datetime, on_call: str | None) -> bool:
        return self.start <= at < self.end and (self.replaces is None or self.replaces == on_call)


def apply_overrides(overrides: Sequence[Override], at: datetime, on_call: str | None) -> str | None:
    """The person an override puts on call at `at` instead of `on_call`, or None if no override applies."""
    for override in reversed(overrides):
        if override.covers(at, on_call):
            return override.user
    return None
