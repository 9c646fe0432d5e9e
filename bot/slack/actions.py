"""Buttons of the incident message and `@Herald …` in an incident's thread.

A button does its state change (one short transaction) before `ack()`, so a click that Slack saw acknowledged is
never lost; what the user is told comes after the ack. The message itself changes through the mirror (outbox),
so a successful click on it needs no reply; a click in an ephemeral "which one?" list replaces that list with the
outcome, and a refusal is an ephemeral note to the clicker alone.
"""

from __future__ import annotations

import re
from typing import Any

from bot.errors import InvalidInput
from bot.escalation import service as escalation
from bot.escalation.permissions import check_may_act
from bot.incidents import service
from bot.slack import blocks
from bot.slack.ops import SOURCE, Reply, SlackOps, Where, parse_number
from bot.slack.users import Actor

MENTION_USAGE = "Say `@Herald ack`, `@Herald resolve [note]` or `@Herald note <text>` in an incident's thread."


def clicked(body: dict[str, Any]) -> tuple[int, Where]:
    action = body["actions"][0]
    container = body.get("container", {})
    channel = body.get("channel", {}).get("id") or container.get("channel_id", "")
    return parse_number(action.get("value", "")), Where(channel=channel, thread_ts=container.get("thread_ts"))


def acknowledge(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    number, where = clicked(body)
    return ops.act("acknowledge", actor, number=number, where=where)


def resolve(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    number, where = clicked(body)
    return ops.act("resolve", actor, number=number, where=where)


def escalate(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    number, _where = clicked(body)
    lifecycle = ops.runtime.extras.get("lifecycle")
    if lifecycle is None:
        return Reply("Escalation is not running in this Herald, so there is no next level to page.")
    with ops.runtime.transaction() as session:
        incident = service.get(session, number=number, for_update=True)
        check_may_act(session, actor=actor, incident=incident, verb="escalate", on_call=ops.on_call)
        level, _round = escalation.escalate_now(
            session, lifecycle=lifecycle, number=number, actor=actor.name, source=SOURCE
        )
    return Reply(f"Incident #{number} escalated: level {level + 1} is being paged now.")


def is_ephemeral(body: dict[str, Any]) -> bool:
    return bool(body.get("container", {}).get("is_ephemeral"))


def mention(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    """`@Herald ack|resolve [note]|note <text>` in a thread: the thread names the incident."""
    event = body["event"]
    text = re.sub(r"^\s*<@[A-Z0-9]+>\s*", "", event.get("text", "")).strip()
    verb, _, rest = text.partition(" ")
    where = Where(channel=event.get("channel", ""), thread_ts=event.get("thread_ts"))
    verb = verb.lower()
    if verb in {"ack", "acknowledge"}:
        return ops.act("acknowledge", actor, number=None, where=where)
    if verb == "resolve":
        return ops.act("resolve", actor, number=None, where=where, note=rest.strip() or None)
    if verb == "note" and rest.strip():
        with ops.runtime.transaction() as session:
            incident = ops.find_incident(session, actor, number=None, where=where)
            if isinstance(incident, list):
                raise InvalidInput("notes go into an incident's thread, or use `/incident note N <text>`")
            service.add_note(
                session,
                clock=ops.runtime.clock,
                events=ops.runtime.events,
                incident=incident,
                actor=actor.name,
                source=SOURCE,
                text=rest.strip(),
            )
            return Reply(f"Note added to incident #{incident.number}.")
    raise InvalidInput(MENTION_USAGE)


BUTTONS = {blocks.ACK: acknowledge, blocks.RESOLVE: resolve, blocks.ESCALATE: escalate}
