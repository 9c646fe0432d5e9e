"""Automation hooks: incidents whose labels match a rule POST a signed JSON body to a URL, through the outbox.

Matching: every key of `match` must be a label of the incident whose value equals the rule's value, or matches it as
a regular expression when written `/regex/`. Events: triggered, acknowledged, resolved, escalated (a policy level may
also name a hook, which then runs when that level fires).

Signing (verify it on the receiving side): `X-Herald-Signature: sha256=<hex>` where hex is
HMAC-SHA256(secret, "<X-Herald-Timestamp>.<body>"); `X-Herald-Delivery` is the delivery's idempotency key, the same
on every retry. Retries come from the outbox with backoff; each attempt is written to the incident's timeline.
The HTTP client is injected (`post(url, content=..., headers=...) -> response with .status_code`), so this module
does no network I/O of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import transaction
from bot.escalation.models import AutomationHook
from bot.incidents import timeline
from bot.incidents.models import Incident
from bot.notify import outbox
from bot.notify.outbox import OutboxMessage, PermanentFailure

HOOK_EVENTS = ("triggered", "acknowledged", "resolved", "escalated")
OUTBOX_KIND = "hook"


def matches(rule: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    for key, expected in rule.items():
        value = labels.get(key)
        if value is None:
            return False
        text = str(expected)
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            if not re.fullmatch(text[1:-1], str(value)):
                return False
        elif str(value) != text:
            return False
    return True


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def fire(
    session: Session,
    *,
    clock: Clock,
    incident: Incident,
    event: str,
    only: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Enqueue a delivery for every enabled hook matching the incident and event (or the hook named `only`)."""
    query = select(AutomationHook).where(AutomationHook.enabled.is_(True))
    if only is not None:
        query = query.where(AutomationHook.name == only)
    count = 0
    for hook in session.scalars(query):
        if only is None and (event not in hook.events or not matches(hook.match, incident.labels)):
            continue
        body = {
            "event": event,
            "hook": hook.name,
            "incident": {
                "number": incident.number,
                "title": incident.title,
                "severity": incident.severity,
                "state": incident.state,
                "service": incident.service.name if incident.service else None,
                "labels": incident.labels,
                "is_drill": incident.is_drill,
            },
            "at": clock.now().isoformat(),
            **(extra or {}),
        }
        outbox.enqueue(
            session,
            clock=clock,
            kind=OUTBOX_KIND,
            key=f"hook:{hook.id}:{incident.id}:{event}:{uuid.uuid4().hex}",
            payload={"hook_id": hook.id, "body": body},
            incident_id=incident.id,
        )
        count += 1
    if count:
        timeline.record(
            session,
            incident=incident,
            at=clock.now(),
            kind="hook_queued",
            actor="herald",
            source="engine",
            message=f"{count} automation hook(s) queued for {event}",
            data={"event": event},
        )
    return count


class _Response(Protocol):
    status_code: int


Post = Callable[..., _Response]


class HookDelivery:
    """The outbox handler of `hook` messages: sign, POST, and write the attempt on the incident's timeline."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, post: Post) -> None:
        self._sessions = sessions
        self._clock = clock
        self._post = post

    def __call__(self, message: OutboxMessage) -> None:
        with transaction(self._sessions) as session:
            hook = session.get(AutomationHook, message.payload["hook_id"])
            if hook is None or not hook.enabled:
                return
            url, secret, name = hook.url, hook.secret, hook.name
        body = json.dumps(message.payload["body"], sort_keys=True).encode()
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "content-type": "application/json",
            "x-herald-timestamp": timestamp,
            "x-herald-signature": sign(secret, timestamp, body),
            "x-herald-delivery": message.idempotency_key,
            "idempotency-key": message.idempotency_key,
        }
        status = self._post(url, content=body, headers=headers).status_code
        if 200 <= status < 300:
            self._record(message, f"automation hook {name} delivered (HTTP {status}, attempt {message.attempts})")
            return
        reason = f"automation hook {name}: HTTP {status}"
        if 400 <= status < 500 and status not in (408, 429):
            raise PermanentFailure(reason)
        raise ConnectionError(reason)

    def _record(self, message: OutboxMessage, text: str) -> None:
        outbox.record_delivery(
            self._sessions, self._clock, message, kind="hook_delivered", text=text, data={"attempt": message.attempts}
        )


def validate_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in HOOK_EVENTS]
    if unknown:
        raise ValueError(f"unknown hook event(s) {unknown}; use {', '.join(HOOK_EVENTS)}")
    return events
