"""Slash commands: parse the text Slack sends, call the services, answer with a `Reply`.

Each handler takes the shared `SlackOps`, the acting Herald user and the command payload and returns what to say;
bad input raises `InvalidInput` with the command's usage, which `bolt.py` answers ephemerally. Everything here is
fast (one short transaction); slow work (`/tts` synthesis and upload) is in `speech.py`, run after the ack.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bot.directory.models import Service
from bot.errors import InvalidInput
from bot.escalation import service as escalation_service
from bot.incidents import service
from bot.incidents.states import OPEN_STATES, Severity
from bot.postmortem import service as postmortem_service
from bot.slack import blocks
from bot.slack.ops import SOURCE, Reply, SlackOps, Where, parse_number
from bot.slack.users import Actor
from bot.voice.tts import SpeechOrder

USAGE = {
    "/ack": "`/ack [number]`: acknowledge an incident. Without a number: the incident of this thread, or your only "
    "open one.",
    "/resolve": "`/resolve [number] [note]`: resolve an incident, with an optional note. Without a number: the "
    "incident of this thread, or your only open one.",
    "/tts": "`/tts <text> [voice=NAME] [emotion=calm|urgent|…|v1,…,v8] [intensity=0..1] [duration=1.5x|12s]`: "
    "speak the text and post the audio here.",
    "/oncall": "`/oncall [team|schedule]`: who is on call now and next, with hand-off times in your time zone.",
    "/incident": "`/incident list [open|all|mine]` · `/incident show N` · `/incident new <title> [P1|P2|P3] [service]`"
    " · `/incident note N <text>` · `/incident postmortem N` · `/incident report [team] [days]`"
    " · `/incident drill <service>`",
}
HELP_WORDS = {"help", "-h", "--help", "?"}

Handler = Callable[[SlackOps, Actor, dict[str, Any]], Reply]


def usage_error(command: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{problem}\nUsage: {USAGE[command]}")


def tokens(command: str, text: str) -> list[str]:
    """The words of a command, quotes honoured (`/tts "Hello there"`)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise usage_error(command, f"could not read your text ({exc})") from None


def where(body: dict[str, Any]) -> Where:
    return Where(channel=body.get("channel_id", ""), thread_ts=body.get("thread_ts") or None)


def ack(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    words = tokens("/ack", body.get("text", ""))
    if len(words) > 1:
        raise usage_error("/ack", "`/ack` takes at most one incident number.")
    number = _number("/ack", words[0]) if words else None
    return ops.act("acknowledge", actor, number=number, where=where(body))


def resolve(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    text = body.get("text", "").strip()
    first, _, rest = text.partition(" ")
    if first and re.fullmatch(r"#?\d+", first):
        number, note = _number("/resolve", first), rest.strip()
    else:
        number, note = None, text
    return ops.act("resolve", actor, number=number, where=where(body), note=note or None)


def incident(ops: SlackOps, actor: Actor, body: dict[str, Any]) -> Reply:
    text = body.get("text", "").strip()
    sub, _, rest = text.partition(" ")
    handler = _INCIDENT.get(sub.lower())
    if handler is None:
        raise usage_error("/incident", f"unknown subcommand {sub!r}." if sub else "say what to do.")
    return handler(ops, actor, rest.strip())


def _list(ops: SlackOps, actor: Actor, rest: str) -> Reply:
    scope = rest.lower() or "open"
    if scope not in {"open", "all", "mine"}:
        raise usage_error("/incident", f"`list` takes open, all or mine, not {rest!r}.")
    with ops.runtime.sessions() as session:
        states = None if scope == "all" else list(OPEN_STATES)
        incidents = service.list_incidents(session, states=states, limit=50)
        if scope == "mine":
            incidents = [i for i in incidents if i.assignee_id == actor.user_id]
        views = [blocks.IncidentView.of(i) for i in incidents]
    if not views:
        return Reply(f"No {'' if scope == 'all' else scope + ' '}incidents.")
    heading = f"*{len(views)} {'' if scope == 'all' else scope + ' '}incident(s)*"
    return Reply(heading, blocks.incident_list(views, heading=heading))


def _show(ops: SlackOps, _actor: Actor, rest: str) -> Reply:
    number = _number("/incident", rest)
    with ops.runtime.sessions() as session:
        found = service.get_with_timeline(session, number=number)
        view = blocks.IncidentView.of(found)
        detail = blocks.incident_detail(view, found.timeline)
    return Reply(blocks.incident_text(view), detail)


def _new(ops: SlackOps, actor: Actor, rest: str) -> Reply:
    words = tokens("/incident", rest)
    severity, service_name = Severity.P2, None
    with ops.runtime.transaction() as session:
        for _ in range(2):  # up to two trailing words: a severity and/or a service name, in either order
            if len(words) < 2:
                break
            last = words[-1]
            if re.fullmatch(r"[Pp][123]", last):
                severity = Severity(last.upper())
            elif service_name is None and _service(session, last) is not None:
                service_name = last
            else:
                break
            words.pop()
        title = " ".join(words).strip()
        if not title:
            raise usage_error("/incident", "`new` needs a title.")
        svc = _service(session, service_name) if service_name else None
        opened = service.open_incident(
            session,
            clock=ops.runtime.clock,
            events=ops.runtime.events,
            title=title,
            severity=severity,
            service=svc,
            group_key=f"slack:{actor.slack_id}:{ops.runtime.clock.now().timestamp()}",
            source=SOURCE,
            actor=actor.name,
        )
        number = opened.number
    where = f" on {service_name}" if service_name else ""
    return Reply(f":rotating_light: You opened incident #{number} ({severity.value}{where}): {blocks.escape(title)}")


def _note(ops: SlackOps, actor: Actor, rest: str) -> Reply:
    first, _, text = rest.partition(" ")
    number = _number("/incident", first)
    if not text.strip():
        raise usage_error("/incident", "`note` needs a text after the number.")
    with ops.runtime.transaction() as session:
        found = service.get(session, number=number, for_update=True)
        service.add_note(
            session,
            clock=ops.runtime.clock,
            events=ops.runtime.events,
            incident=found,
            actor=actor.name,
            source=SOURCE,
            text=text.strip(),
        )
    return Reply(f"Note added to incident #{number}.")


def _postmortem(ops: SlackOps, _actor: Actor, rest: str) -> Reply:
    number = _number("/incident", rest)
    with ops.runtime.sessions() as session:
        service.get(session, number=number)
    return Reply(f":memo: Preparing the post-mortem of incident #{number}; the files will appear in its thread.")


def _drill(ops: SlackOps, actor: Actor, rest: str) -> Reply:
    """A labelled drill incident that walks the service's real escalation path (no SLA, not in reports)."""
    words = tokens("/incident", rest)
    if len(words) != 1:
        raise usage_error("/incident", "`drill` takes one service name.")
    with ops.runtime.transaction() as session:
        drill = escalation_service.start_drill(
            session,
            clock=ops.runtime.clock,
            events=ops.runtime.events,
            service=words[0],
            actor=actor.name,
            source=SOURCE,
        )
        number = drill.number
    return Reply(f":rotating_light: Drill incident #{number} started on {words[0]}; its escalation path will be paged.")


def _report(ops: SlackOps, _actor: Actor, rest: str) -> Reply:
    """MTTA, MTTR, SLA breaches and pages over the last N days (default 30), for one team or all (a few queries)."""
    words = tokens("/incident", rest)
    days = int(words.pop()) if words and words[-1].isdigit() else 30
    if len(words) > 1:
        raise usage_error("/incident", "`report` takes a team name and a number of days.")
    with ops.runtime.sessions() as session:
        text = postmortem_service.slack_report(
            session, now=ops.runtime.clock.now(), team=words[0] if words else None, days=days
        )
    return Reply(text)


_INCIDENT: dict[str, Callable[[SlackOps, Actor, str], Reply]] = {
    "list": _list,
    "show": _show,
    "new": _new,
    "note": _note,
    "postmortem": _postmortem,
    "report": _report,
    "drill": _drill,
}


def _number(command: str, token: str) -> int:
    if not token:
        raise usage_error(command, "an incident number is missing.")
    try:
        return parse_number(token)
    except InvalidInput as exc:
        raise usage_error(command, exc.reason) from None


def _service(session, name: str | None) -> Service | None:
    if not name:
        return None
    return session.scalars(select(Service).where(func.lower(Service.name) == name.lower())).one_or_none()


def parse_tts(text: str, *, time_zone: str | None = None) -> SpeechOrder:
    """`/tts` text → a speech order; the syntax is checked here (fast, before the ack), the rest by the engine."""
    words, options = [], {}
    for word in tokens("/tts", text):
        key, sep, value = word.partition("=")
        if sep and key.lower() in {"voice", "emotion", "intensity", "duration"}:
            options[key.lower()] = value
        else:
            words.append(word)
    spoken = " ".join(words).strip()
    if not spoken:
        raise usage_error("/tts", "there is nothing to say.")
    if len(spoken) > 1000:
        raise usage_error("/tts", "the text is longer than 1000 characters.")
    emotion = _emotion(options["emotion"]) if "emotion" in options else None
    if "intensity" in options:
        if emotion is None or emotion.startswith("vector:"):
            raise usage_error("/tts", "intensity scales a named emotion: add emotion=NAME.")
        emotion = f"{emotion}@{_intensity(options['intensity'])}"
    return SpeechOrder(
        text=spoken,
        voice=options.get("voice") or None,
        emotion=emotion,
        duration=_duration(options["duration"]) if "duration" in options else None,
        timezone=time_zone,
    )


def _emotion(value: str) -> str:
    if "," in value:
        try:
            vector = [float(v) for v in value.split(",")]
        except ValueError:
            raise usage_error("/tts", f"emotion vector {value!r} is not 8 numbers.") from None
        if len(vector) != 8 or not all(0.0 <= v <= 1.0 for v in vector):
            raise usage_error("/tts", "an emotion vector is 8 numbers between 0 and 1, separated by commas.")
        return "vector:" + ",".join(f"{v:g}" for v in vector)
    if not re.fullmatch(r"[a-z][a-z_-]*", value.lower()):
        raise usage_error("/tts", f"{value!r} is not an emotion name.")
    return value.lower()


def _intensity(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise usage_error("/tts", f"intensity must be between 0 and 1, not {value!r}.")
    return number


def _duration(value: str) -> str:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(x|s)", value.strip().lower())
    if not match:
        raise usage_error("/tts", f"duration is a speed such as 1.5x or a length such as 12s, not {value!r}.")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "x" and not 0.5 <= number <= 2.0:
        raise usage_error("/tts", "a speed must be between 0.5x and 2x.")
    if unit == "s" and not 0.5 <= number <= 120:
        raise usage_error("/tts", "a length must be between 0.5s and 120s.")
    return f"{number:g}{unit}"


COMMANDS: dict[str, Handler] = {"/ack": ack, "/resolve": resolve, "/incident": incident}

__all__ = ["COMMANDS", "HELP_WORDS", "USAGE", "parse_tts", "usage_error"]
