"""Spoken audio in Slack: `/tts` and the "Play voice summary" button, both run after the ack (Bolt lazy listeners).

Synthesis takes seconds, so the ack only says that it started; this module asks the speech interface
(`bot.voice.tts`: the IndexTTS-2 engine, a remote engine, or the offline fallback voice) for audio and uploads the
WAV with `files_upload_v2` into the channel, or into the incident's thread for a summary. A summary whose words
pre-synthesis has already rendered (`bot.voice.presynth`) is served from that clip: the same natural voice as the
phone call, at once, with no model work; live synthesis is only the fallback. Failures are told to the requester
through `respond` (the response_url); losing one of those is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.errors import HeraldError
from bot.incidents import service
from bot.incidents.models import Incident
from bot.slack import blocks
from bot.slack.actions import clicked
from bot.slack.commands import parse_tts
from bot.slack.ops import SlackOps
from bot.voice.models import VoiceClip
from bot.voice.tts import SpeechOrder

log = logging.getLogger(__name__)

Respond = Callable[..., Any]


def spoken_summary(view: blocks.IncidentView, now: datetime) -> str:
    """A summary meant for the ear: no markup, short sentences."""
    minutes = max(0, int((now - view.created_at).total_seconds() // 60))
    where = f" on {view.service}" if view.service else ""
    parts = [
        f"Incident {view.number}{where}, priority {view.severity[-1]}, {view.state}.",
        view.title.rstrip(".") + ".",
        f"Open for {minutes} minute{'s' if minutes != 1 else ''}, "
        f"{view.alert_count} alert{'s' if view.alert_count != 1 else ''}.",
    ]
    if view.assignee:
        parts.append(f"Assigned to {view.assignee}.")
    if view.summary.strip():
        parts.append(blocks.clip(view.summary, 300))
    return " ".join(parts)


def say(ops: SlackOps, order: SpeechOrder, *, channel: str, thread_ts: str | None, title: str, user: str) -> None:
    """Synthesize and upload; HeraldError (unknown voice, bad emotion …) goes to the caller to report."""
    audio = ops.speech().synthesize(order)
    note = f" (fallback voice: {audio.fallback_reason})" if audio.fallback else ""
    ops.client.files_upload_v2(
        channel=channel,
        thread_ts=thread_ts,
        content=audio.to_wav(),
        filename="herald-speech.wav",
        title=title,
        initial_comment=f"<@{user}> asked Herald to say: {blocks.escape(blocks.clip(order.text, 300))}{note}",
    )


def upload_clip(ops: SlackOps, clip: VoiceClip, *, channel: str, thread_ts: str | None, title: str, user: str) -> None:
    """Upload audio pre-synthesis rendered, saying which words it speaks (and when the fallback voice spoke)."""
    note = f" (fallback voice: {clip.fallback_reason})" if not clip.natural else ""
    ops.client.files_upload_v2(
        channel=channel,
        thread_ts=thread_ts,
        content=clip.wav,
        filename="herald-speech.wav",
        title=title,
        initial_comment=f"<@{user}> asked for the voice summary: {blocks.escape(blocks.clip(clip.text, 300))}{note}",
    )


def tts_after_ack(ops: SlackOps, body: dict[str, Any], respond: Respond) -> None:
    user = body["user_id"]
    try:
        actor = ops.directory.actor(user)
        order = parse_tts(body.get("text", ""), time_zone=actor.time_zone)
        say(ops, order, channel=body["channel_id"], thread_ts=body.get("thread_ts"), title="/tts", user=user)
    except HeraldError as exc:
        respond(text=f":no_entry_sign: {exc.reason}", response_type="ephemeral")
    except Exception:
        log.exception("/tts failed")
        respond(text=":boom: Herald could not synthesize or upload that audio; the log has the details.")


def summary_after_ack(ops: SlackOps, body: dict[str, Any], respond: Respond) -> None:
    number, where = clicked(body)
    user = body["user"]["id"]
    try:
        actor = ops.directory.actor(user)
        with ops.runtime.sessions() as session:
            incident = service.get(session, number=number)
            view = blocks.IncidentView.of(incident)
            incident_id = incident.id
            clip = _stored_summary(ops, session, incident)
        channel, thread_ts = ops.mirror.thread_of(incident_id) or (where.channel, None)
        title = f"Incident #{number}"
        if clip is not None:
            upload_clip(ops, clip, channel=channel, thread_ts=thread_ts, title=title, user=user)
            return
        order = SpeechOrder(text=spoken_summary(view, ops.runtime.clock.now()), timezone=actor.time_zone)
        say(ops, order, channel=channel, thread_ts=thread_ts, title=title, user=user)
    except HeraldError as exc:
        respond(text=f":no_entry_sign: {exc.reason}", response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("voice summary of #%s failed", number)
        respond(text=":boom: Herald could not play that summary; the log has the details.", replace_original=False)


def _stored_summary(ops: SlackOps, session: Session, incident: Incident) -> VoiceClip | None:
    """The pre-synthesized summary of the incident as it reads now, when the voice package runs and has one."""
    voice = ops.runtime.extras.get("voice")
    return voice.presynth.stored_summary(session, incident) if voice is not None else None
