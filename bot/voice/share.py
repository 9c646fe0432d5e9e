"""The call's audio in Slack: posted to the incident's thread and sent to the callee by DM (issue 15, item 4).

Someone away from a phone can still listen. This module owns the `voice.slack` outbox kind: a clip key and where it
goes, enqueued in the transaction that rendered the clip (thread) or placed the call (DM). Delivery uses the Slack
edge's public parts that `bot.slack.bolt.install` leaves in `runtime.extras["slack"]` (the Web API client and
`mirror.thread_of`), so this package never imports slack_sdk; with Slack not configured the message is dropped
on purpose and said so in the log. An incident not mirrored yet (no thread) is retried by the outbox.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from bot.directory.models import User
from bot.incidents.models import Incident
from bot.notify import outbox
from bot.notify.outbox import OutboxMessage, PermanentFailure
from bot.runtime import Runtime
from bot.voice.models import Callout
from bot.voice.presynth import cached

log = logging.getLogger(__name__)

KIND = "voice.slack"


def share_in_thread(runtime: Runtime, session: Session, incident_id: int, clip_key: str) -> None:
    outbox.enqueue(
        session,
        clock=runtime.clock,
        kind=KIND,
        key=f"{KIND}:thread:{incident_id}:{clip_key}",
        payload={"clip": clip_key, "incident_id": incident_id, "to": "thread"},
        incident_id=incident_id,
    )


def share_with_callee(runtime: Runtime, session: Session, call: Callout, clip_key: str) -> None:
    user = session.get(User, call.user_id) if call.user_id else None
    if user is None or not user.slack_id or not call.incidents:
        return
    incident_id = call.incidents[0].incident_id
    outbox.enqueue(
        session,
        clock=runtime.clock,
        kind=KIND,
        key=f"{KIND}:dm:{call.id}:{clip_key}",
        payload={"clip": clip_key, "incident_id": incident_id, "to": "dm", "slack_id": user.slack_id},
        incident_id=incident_id,
    )


class SlackShare:
    """The `voice.slack` outbox handler."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def __call__(self, message: OutboxMessage) -> None:
        ops: Any = self._runtime.extras.get("slack")
        if ops is None:
            log.info("voice summary not shared: Slack is not configured")
            return
        payload = message.payload
        with self._runtime.sessions() as session:
            clip = cached(session, payload["clip"])
            incident = session.get(Incident, payload["incident_id"])
            if clip is None or incident is None:
                raise PermanentFailure(f"voice clip {payload['clip'][:12]} or its incident is gone")
            wav, text, number = clip.wav, clip.text, incident.number
        title = f"Incident #{number}: voice summary"
        if payload["to"] == "dm":
            channel, thread = ops.client.conversations_open(users=payload["slack_id"])["channel"]["id"], None
            comment = f"Herald is calling you about incident #{number}. The same message, to listen here: {text}"
        else:
            where = ops.mirror.thread_of(payload["incident_id"])
            if where is None:
                raise RuntimeError(f"incident #{number} has no Slack message yet")
            channel, thread = where
            comment = f"Voice summary{' (fallback voice)' if not clip.natural else ''}: {text}"
        ops.client.files_upload_v2(
            channel=channel,
            thread_ts=thread,
            content=wav,
            filename=f"incident-{number}-voice.wav",
            title=title,
            initial_comment=comment,
        )
