"""What Herald needs from a phone provider, what a provider can do, and how it fails.

Modelled on Grafana OnCall's `PhoneProvider`: callouts only talk to this protocol, so Twilio, the simulated provider
(`HERALD_TELEPHONY=simulated`) and any future provider are interchangeable. Errors say whose fault a failure is:
`ProviderRefused` (the provider said no: an invalid number, a blocked destination; retrying cannot help, so the
escalation falls back at once) versus `ProviderUnavailable` (network or a 5xx: the outbox retries with backoff).

Callback authenticity follows Twilio's `X-Twilio-Signature` scheme: HMAC-SHA1 over the full URL followed by the
sorted form parameters, base64-encoded. It is a dozen lines and fully specified (the fixture README has a worked
example), so it is written here rather than pulling in the Twilio SDK and its HTTP stack for one function.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "FINAL_STATUSES",
    "CallRequest",
    "Capabilities",
    "PhoneProvider",
    "PlacedCall",
    "ProviderError",
    "ProviderRefused",
    "ProviderUnavailable",
    "sign",
    "signature_matches",
]

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class Capabilities:
    """What a provider does, so callouts never ask for what it cannot give."""

    machine_detection: bool = True
    play_audio: bool = True
    say: bool = True


@dataclass(frozen=True)
class CallRequest:
    to: str
    answer_url: str  # POSTed when the callee answers; answers with TwiML
    status_url: str  # POSTed on initiated / ringing / answered / completed (or busy, no-answer ...)
    ring_seconds: int = 30
    time_limit_seconds: int = 300
    machine_detection: bool = True


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    status: str = "queued"


class ProviderError(Exception):
    """A call could not be placed; `reason` is safe to show on the timeline."""

    permanent = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderRefused(ProviderError):
    """The provider refused the request (4xx): the same request will never succeed."""

    permanent = True


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed (network, 5xx, 429): try again later."""


@runtime_checkable
class PhoneProvider(Protocol):
    name: str
    capabilities: Capabilities

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Ask the provider to ring `request.to`; raises ProviderError."""
        ...

    def verify(self, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
        """Whether a callback to `url` with these form parameters really comes from the provider."""
        ...


def sign(key: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The `X-Twilio-Signature` of a form POST to `url` (repeated names appended once per value, values sorted)."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_matches(key: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """Constant-time check; like Twilio's helpers, also accepts the URL with or without the default port."""
    if not key or not signature:
        return False
    items = list(params)
    return any(hmac.compare_digest(sign(key, candidate, items), signature) for candidate in _port_variants(url))


def _port_variants(url: str) -> list[str]:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    variants = [url]
    if default is not None:
        if parts.port is None:
            variants.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
        elif parts.port == default:
            variants.append(urlunsplit(parts._replace(netloc=host)))
    return variants
