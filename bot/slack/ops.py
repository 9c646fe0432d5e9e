"""What Slack handlers share: the services they call and the incident actions they all perform.

`/ack`, `/resolve`, the buttons and `@Herald ack` in a thread differ only in how they name the incident, so finding
it (number → thread → the caller's only open one → "which one?"), the permission check and the service call live
here once. Each action is one short transaction; Slack I/O happens before or after it, never inside.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.errors import HeraldError, InvalidInput, NotFound
from bot.escalation.permissions import OnCallLookup, check_may_act, may_act
from bot.incidents import service
from bot.incidents.models import Incident
from bot.incidents.states import OPEN_STATES
from bot.runtime import Runtime
from bot.slack import blocks
from bot.slack.mirror import SlackMirror
from bot.slack.models import SlackMessage
from bot.slack.users import Actor, SlackDirectory
from bot.voice.tts import Speech, build_speech

SOURCE = "slack"
log = logging.getLogger(__name__)


@dataclass
class Reply:
    """An answer to a Slack user: ephemeral unless `in_channel`."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    in_channel: bool = False
    ok: bool = True  # False: a refusal or an error, which a button click must show even on a public message

    def ack_args(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "blocks": self.blocks,
            "response_type": "in_channel" if self.in_channel else "ephemeral",
        }


@dataclass(frozen=True)
class Where:
    """Where a request came from: the channel, and the thread when Slack says."""

    channel: str
    thread_ts: str | None = None


@dataclass
class SlackOps:
    runtime: Runtime
    client: WebClient
    directory: SlackDirectory
    mirror: SlackMirror
    on_call: OnCallLookup | None = None
    _speech: Speech | None = field(default=None, init=False, repr=False)
    _speech_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def speech(self) -> Speech:
        """The speech interface (in-process engine or `HERALD_TTS_URL`), built on first use: most installs
        never say anything in Slack, and a model folder should not be opened for nothing."""
        with self._speech_lock:
            if self._speech is None:
                self._speech = build_speech(self.runtime.settings)
            return self._speech

    def answer(self, handler: Callable[[SlackOps, Actor, dict[str, Any]], Reply], body: dict[str, Any]) -> Reply:
        """Run a handler for the Slack user of `body`; typed errors become the reply, bugs an error id."""
        try:
            actor = self.directory.actor(_user_id(body))
            return handler(self, actor, body)
        except HeraldError as exc:
            return Reply(f":no_entry_sign: {exc.reason}", ok=False)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("Slack handler %s failed, error id %s", getattr(handler, "__name__", handler), error_id)
            return Reply(f":boom: Herald hit an internal error (id `{error_id}`); the log has the details.", ok=False)

    def act(self, verb: str, actor: Actor, *, number: int | None, where: Where, note: str | None = None) -> Reply:
        """Acknowledge or resolve: the incident named, the thread's, or the caller's only open one."""
        with self.runtime.transaction() as session:
            found = self.find_incident(session, actor, number=number, where=where)
            if isinstance(found, list):
                return _choose(verb, found)
            check_may_act(session, actor=actor, incident=found, verb=verb, on_call=self.on_call)
            kwargs = {"clock": self.runtime.clock, "events": self.runtime.events, "incident": found}
            if verb == "acknowledge":
                service.acknowledge(session, **kwargs, actor=actor.name, source=SOURCE)
                return Reply(f":large_yellow_circle: You acknowledged incident #{found.number}.")
            service.resolve(session, **kwargs, actor=actor.name, source=SOURCE, note=note)
            return Reply(f":large_green_circle: You resolved incident #{found.number}.")

    def find_incident(
        self, session: Session, actor: Actor, *, number: int | None, where: Where
    ) -> Incident | list[blocks.IncidentView]:
        """The incident meant, or the open candidates to choose from when that is ambiguous."""
        if number is not None:
            return service.get(session, number=number, for_update=True)
        if where.thread_ts:
            incident_id = session.scalar(
                select(SlackMessage.incident_id).where(
                    SlackMessage.channel == where.channel, SlackMessage.ts == where.thread_ts
                )
            )
            if incident_id is not None:
                return service.get(session, number=_number(session, incident_id), for_update=True)
        candidates = _open_of(session, actor, self.on_call) or _open_in_channel(session, where.channel)
        if len(candidates) == 1:
            return service.get(session, number=candidates[0].number, for_update=True)
        if not candidates:
            raise NotFound("you have no open incident here; name one by its number (see `/incident list`)")
        return [blocks.IncidentView.of(i) for i in candidates]


def _user_id(body: dict[str, Any]) -> str:
    """The acting user of a slash command, an interaction or an event."""
    user = body.get("user_id") or body.get("user") or body.get("event", {}).get("user")
    return user["id"] if isinstance(user, dict) else str(user or "")


def _choose(verb: str, views: list[blocks.IncidentView]) -> Reply:
    action = blocks.ACK if verb == "acknowledge" else blocks.RESOLVE
    heading = f"Several open incidents could be meant. Which one do you want to {verb}?"
    return Reply(heading, blocks.incident_list(views, heading=heading, action_id=action))


def _number(session: Session, incident_id: int) -> int:
    return session.scalar(select(Incident.number).where(Incident.id == incident_id))


def _open_of(session: Session, actor: Actor, on_call: OnCallLookup | None) -> list[Incident]:
    """Open incidents the caller may act on (as responder, on-call of the team, or admin)."""
    query = (
        select(Incident)
        .where(Incident.state.in_(OPEN_STATES))
        .options(selectinload(Incident.service), selectinload(Incident.assignee))
        .order_by(Incident.number)
        .limit(500)
    )
    return [i for i in session.scalars(query) if may_act(session, actor=actor, incident=i, on_call=on_call)]


def _open_in_channel(session: Session, channel: str) -> list[Incident]:
    query = (
        select(Incident)
        .join(SlackMessage, SlackMessage.incident_id == Incident.id)
        .where(SlackMessage.channel == channel, Incident.state.in_(OPEN_STATES))
        .options(selectinload(Incident.service), selectinload(Incident.assignee))
        .order_by(Incident.number)
    )
    return list(session.scalars(query))


def parse_number(token: str) -> int:
    """`42`, `#42` (and a button value such as `victorops:42`) → 42."""
    value = token.rsplit(":", 1)[-1].lstrip("#")
    if not value.isdigit():
        raise InvalidInput(f"{token!r} is not an incident number")
    return int(value)
