"""`/incident postmortem N` in Slack: the export files uploaded into the incident's thread, after the ack.

Rendering the Markdown, HTML, JSON and chart takes about half a second and the upload is network work, so the
command's ack only says that the files are on their way (see `commands._postmortem`); this lazy listener builds
them with `bot.postmortem.service` and uploads them with `files_upload_v2`. Losing a reply here is harmless: the
command can be run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.errors import HeraldError, NotFound
from bot.incidents import service
from bot.postmortem import service as postmortem_service
from bot.slack.ops import SlackOps, parse_number

log = logging.getLogger(__name__)


def requested_number(text: str) -> int | None:
    """The incident number of a `/incident postmortem N` command text, None for any other subcommand."""
    words = text.split()
    if len(words) != 2 or words[0].lower() != "postmortem":
        return None
    try:
        return parse_number(words[1])
    except HeraldError:
        return None


def upload_after_ack(ops: SlackOps, body: dict[str, Any], respond: Callable[..., Any]) -> None:
    number = requested_number(body.get("text", ""))
    if number is None:
        return
    try:
        with ops.runtime.sessions() as session:
            incident_id = service.get(session, number=number).id
            export = postmortem_service.slack_postmortem(
                session,
                number=number,
                now=ops.runtime.clock.now(),
                templates_dir=ops.runtime.settings.postmortem_templates_dir,
            )
        channel, thread_ts = ops.mirror.thread_of(incident_id) or (body["channel_id"], None)
        ops.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            file_uploads=[{"content": f.content, "filename": f.name, "title": f.name} for f in export.files],
            initial_comment=export.text,
        )
    except NotFound:
        return  # the command's ack has already said that there is no such incident
    except HeraldError as exc:
        respond(text=f":no_entry_sign: {exc.reason}", response_type="ephemeral")
    except Exception:
        log.exception("post-mortem upload of #%s failed", number)
        respond(text=":boom: Herald could not upload the post-mortem; the log has the details.")
