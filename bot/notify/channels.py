"""The contact channels a notification can go out on, and the registry that edges fill in.

The escalation engine decides *who* is told *what* and *when*; a `Channel` only knows *how* to deliver one message
(Slack DM, a Slack channel post, e-mail, a phone call). Edges implement the protocol (`slack/channel.py`,
`voice/callouts.py`, `notify/email.py`) and `app.py` registers them, so the domain never imports Slack or telephony.
A channel that nobody has registered yet is not an error: its notifications stay recorded as due (pending in the
outbox) until a sender appears, and are never dropped.

A channel's `send` either returns (delivered; an optional provider id is kept) or raises `DeliveryError`. A
`permanent` error (unknown address, 4xx) falls back to the next channel at once; a transient one is retried by the
outbox with backoff and falls back when the retries are spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "FALLBACK_ORDER",
    "Channel",
    "ChannelName",
    "ChannelRegistry",
    "DeliveryError",
    "OutgoingMessage",
    "fallback_after",
]


class ChannelName(StrEnum):
    VOICE = "voice"
    SLACK_DM = "slack_dm"
    SLACK_CHANNEL = "slack_channel"
    EMAIL = "email"


# A failed channel falls back along this order (voice → Slack DM → channel post → e-mail).
FALLBACK_ORDER: tuple[ChannelName, ...] = (
    ChannelName.VOICE,
    ChannelName.SLACK_DM,
    ChannelName.SLACK_CHANNEL,
    ChannelName.EMAIL,
)


def fallback_after(channel: str, tried: set[str] | frozenset[str] = frozenset()) -> ChannelName | None:
    """The next channel to try after `channel` failed, skipping the ones already used for this person and level."""
    order = list(FALLBACK_ORDER)
    start = order.index(ChannelName(channel)) + 1
    for candidate in order[start:]:
        if candidate.value not in tried:
            return candidate
    return None


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything a sender needs, already rendered; `idempotency_key` is stable across retries of one notification
    (senders pass it on where the remote side can deduplicate: e-mail Message-ID, an HTTP `Idempotency-Key`)."""

    notification_id: int
    idempotency_key: str
    channel: str
    address: str  # e-mail address, Slack user id, Slack channel, or phone number
    recipient: str  # display name (a person or a channel)
    kind: str  # page | warning | ack_reminder | shift_reminder | digest
    subject: str
    text: str
    language: str = "en"
    incident_number: int | None = None
    severity: str | None = None
    is_drill: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class DeliveryError(Exception):
    """A sender could not deliver; `permanent` means retrying cannot help (bad address, refused by the provider)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@runtime_checkable
class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> str | None:
        """Deliver one message; return the provider's id for it (or None). Raise DeliveryError on failure."""
        ...


class ChannelRegistry:
    """The channels this process can send on, by name; edges register theirs when the app is built."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        name = ChannelName(channel.name).value
        self._channels[name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def names(self) -> list[str]:
        return sorted(self._channels)
