"""The incident state machine as a table: which action moves which state where.

    triggered ──ack──▶ acknowledged ──resolve──▶ resolved
        │  ▲                │
        │  └───unack────────┘   (ack timeout, or the acknowledger hands it back)
        └──────────resolve─────────────────────▶ resolved

A resolved incident stays resolved: a new alert for the same group opens a new incident.
"""

from __future__ import annotations

from enum import StrEnum

from bot.errors import Conflict


class State(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    RESOLVE = "resolve"


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.TRIGGERED, Action.ACKNOWLEDGE): State.ACKNOWLEDGED,
    (State.TRIGGERED, Action.RESOLVE): State.RESOLVED,
    (State.ACKNOWLEDGED, Action.RESOLVE): State.RESOLVED,
    (State.ACKNOWLEDGED, Action.UNACKNOWLEDGE): State.TRIGGERED,
}

OPEN_STATES = (State.TRIGGERED.value, State.ACKNOWLEDGED.value)


def next_state(current: str, action: Action, number: int) -> State:
    """The state `action` leads to from `current`, or a Conflict that says why not."""
    try:
        return TRANSITIONS[(State(current), action)]
    except KeyError:
        raise Conflict(f"incident #{number} is {current}; cannot {action.value} it") from None


def parse_severity(value: str) -> Severity:
    from bot.errors import InvalidInput

    try:
        return Severity(value.strip().upper())
    except ValueError:
        raise InvalidInput(f"severity must be P1, P2 or P3, not {value!r}") from None
