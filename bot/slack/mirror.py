"""The mirrored incident message: one Block Kit message per incident, updated in place, its thread the timeline.

Incident events never call Slack. The subscriber writes a `slack.sync` outbox message in the transaction of the
change; the outbox worker then calls `SlackMirror.deliver`, which brings Slack up to the incident's *current* state:
post the message if it has no `ts` yet, else `chat.update` it when its rendering changed, then post every timeline
entry after the row's `thread_cursor` into the thread, moving the cursor after each (a run of alert entries, one per
alert in a storm, is one reply). A Slack outage therefore delays the message and its thread, never loses or
duplicates them, and several queued syncs collapse into one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.incidents.events import EventKind, IncidentEvent
from bot.incidents.models import Incident, TimelineEntry
from bot.notify import outbox
from bot.notify.outbox import OutboxMessage, PermanentFailure
from bot.runtime import Runtime
from bot.slack import blocks
from bot.slack.models import SlackMessage
from bot.slack.users import SlackDirectory

log = logging.getLogger(__name__)

KIND = "slack.sync"
LEASE = timedelta(seconds=90)
ALERT_SYNC_WINDOW = timedelta(seconds=10)  # alerts joining an incident within this window: one sync at its end
THREAD_BATCH = 500  # timeline entries read per query
# Slack errors worth another attempt; any other Slack error is a configuration problem retrying cannot fix.
RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
UNTHREADED = {"triggered"}  # already told by the message itself
# Timeline entries an alert storm writes one per alert: a run of them is one thread reply, its first few listed.
ALERT_KINDS = {"alert", "alert_resolved", "alert_info", "alerts_truncated"}
LISTED_ALERTS = 5


class MirrorBusy(Exception):
    """Another worker holds this incident's message; this delivery is retried after it."""


def channel_for(incident: Incident, default: str) -> str:
    """Service setting, then the service's team, then the default channel."""
    service = incident.service
    if service is not None and service.slack_channel:
        return service.slack_channel
    if service is not None and service.team is not None and service.team.slack_channel:
        return service.team.slack_channel
    return default


def make_subscriber(runtime: Runtime):
    """The event-bus subscriber that promises a Slack sync in the same transaction as the change.

    Alerts joining an incident are debounced (`ALERT_SYNC_WINDOW`): an alert storm adds alerts to each of its
    incidents with every ingest batch, and one sync at the end of the window shows them all (a sync renders the
    incident as it is then), where a sync per batch cost ingestion three statements per incident and would exceed
    Slack's `chat.update` rate limit many times over. Every other change syncs at once.
    """
    alert_syncs = outbox.DebouncedJobs(KIND, ALERT_SYNC_WINDOW)

    def on_event(session: Session, event: IncidentEvent) -> None:
        alerts_added = event.kind is EventKind.ALERT_ADDED
        if alerts_added and not alert_syncs.due(runtime.clock, event.incident_id):
            return
        now = runtime.clock.now()
        if session.get(SlackMessage, event.incident_id) is None:
            incident = session.get(Incident, event.incident_id)
            channel = channel_for(incident, runtime.settings.slack_default_channel)
            session.add(SlackMessage(incident_id=event.incident_id, channel=channel, created_at=now, updated_at=now))
        if alerts_added:
            alert_syncs.enqueue(
                session, clock=runtime.clock, incident_id=event.incident_id, payload={"incident_id": event.incident_id}
            )
            return
        session.flush()
        last = session.scalar(select(func.max(TimelineEntry.id)).where(TimelineEntry.incident_id == event.incident_id))
        outbox.enqueue(
            session,
            clock=runtime.clock,
            kind=KIND,
            key=f"{KIND}:{event.incident_id}:{last or 0}:{event.kind}",
            payload={"incident_id": event.incident_id},
            incident_id=event.incident_id,
        )

    return on_event


@dataclass(frozen=True)
class _Target:
    channel: str
    ts: str | None
    cursor: int
    rendered: str


class SlackMirror:
    """The outbox handler of `slack.sync`."""

    def __init__(self, runtime: Runtime, client: WebClient, directory: SlackDirectory) -> None:
        self._runtime = runtime
        self._client = client
        self._directory = directory

    def deliver(self, message: OutboxMessage) -> None:
        incident_id = int(message.payload["incident_id"])
        target = self._claim(incident_id)
        if target is None:
            return
        try:
            target = self._sync_message(incident_id, target)
            self._sync_thread(incident_id, target)
        except SlackApiError as exc:
            error = exc.response.get("error", "")
            if exc.response.status_code == 429 or exc.response.status_code >= 500 or error in RETRYABLE:
                raise
            hint = " (invite Herald to that private channel)" if error == "not_in_channel" else ""
            raise PermanentFailure(f"Slack refused: {error}{hint}") from None
        finally:
            self._release(incident_id)

    def thread_of(self, incident_id: int) -> tuple[str, str] | None:
        """(channel id, message ts) of an incident's posted message, for replies and uploads into its thread."""
        with self._runtime.sessions() as session:
            row = session.get(SlackMessage, incident_id)
            return (row.channel, row.ts) if row is not None and row.ts else None

    def _claim(self, incident_id: int) -> _Target | None:
        now = self._runtime.clock.now()
        with self._runtime.transaction() as session:
            row = session.get(SlackMessage, incident_id, with_for_update=True)
            if row is None:
                return None
            if row.lease_until is not None and row.lease_until > now:
                raise MirrorBusy(f"Slack message of incident {incident_id} is being written by another worker")
            row.lease_until = now + LEASE
            return _Target(row.channel, row.ts, row.thread_cursor, row.rendered)

    def _release(self, incident_id: int) -> None:
        with self._runtime.transaction() as session:
            row = session.get(SlackMessage, incident_id)
            if row is not None:
                row.lease_until = None

    def _sync_message(self, incident_id: int, target: _Target) -> _Target:
        with self._runtime.sessions() as session:
            assignee_id = session.scalar(select(Incident.assignee_id).where(Incident.id == incident_id))
        if assignee_id is not None:
            self._directory.slack_id_of(assignee_id)  # so the assignee is shown as a mention
        with self._runtime.sessions() as session:
            view = blocks.IncidentView.of(session.get(Incident, incident_id))
        text, rendered = blocks.incident_text(view), blocks.incident_blocks(view)
        digest = hashlib.sha256(json.dumps([text, rendered], sort_keys=True).encode()).hexdigest()
        if target.ts is None:
            response = self._client.chat_postMessage(
                channel=target.channel, text=text, blocks=rendered, unfurl_links=False, unfurl_media=False
            )
            channel, ts = response["channel"], response["ts"]
        elif digest != target.rendered:
            self._client.chat_update(channel=target.channel, ts=target.ts, text=text, blocks=rendered)
            channel, ts = target.channel, target.ts
        else:
            return target
        with self._runtime.transaction() as session:
            row = session.get(SlackMessage, incident_id)
            row.channel, row.ts, row.rendered = channel, ts, digest
            row.updated_at = self._runtime.clock.now()
        return _Target(channel, ts, target.cursor, digest)

    def _sync_thread(self, incident_id: int, target: _Target) -> None:
        """Post the timeline entries after the cursor into the thread, in order. A run of alert entries (an alert storm
        writes one per alert) becomes one reply that lists the first few and counts the rest."""
        run = _AlertRun()
        after = target.cursor
        while True:
            with self._runtime.sessions() as session:
                entries = list(
                    session.scalars(
                        select(TimelineEntry)
                        .where(TimelineEntry.incident_id == incident_id, TimelineEntry.id > after)
                        .order_by(TimelineEntry.id)
                        .limit(THREAD_BATCH)
                    )
                )
            if not entries:
                break
            for entry in entries:
                after = entry.id
                if entry.kind in ALERT_KINDS:
                    run.add(entry)
                    continue
                target = self._reply(incident_id, target, run.text(), run.last_id)
                run = _AlertRun()
                target = self._reply(
                    incident_id, target, blocks.timeline_text(entry) if _threaded(entry) else None, entry.id
                )
        self._reply(incident_id, target, run.text(), run.last_id)

    def _reply(self, incident_id: int, target: _Target, text: str | None, cursor: int | None) -> _Target:
        """Post `text` into the thread (if any), then move the cursor to `cursor` (if any): a reply is posted once."""
        if cursor is None:
            return target
        if text is not None:
            self._client.chat_postMessage(
                channel=target.channel, thread_ts=target.ts, text=text, unfurl_links=False, unfurl_media=False
            )
        with self._runtime.transaction() as session:
            session.get(SlackMessage, incident_id).thread_cursor = cursor
        return _Target(target.channel, target.ts, cursor, target.rendered)


@dataclass
class _AlertRun:
    """Consecutive alert entries of the timeline not posted yet: the first `LISTED_ALERTS` and how many in all."""

    listed: list[TimelineEntry] = field(default_factory=list)
    count: int = 0
    last_id: int | None = None

    def add(self, entry: TimelineEntry) -> None:
        if len(self.listed) < LISTED_ALERTS:
            self.listed.append(entry)
        self.count += 1
        self.last_id = entry.id

    def text(self) -> str | None:
        if not self.count:
            return None
        if self.count == 1:
            return blocks.timeline_text(self.listed[0])
        return blocks.alert_run_text(self.listed, self.count)


def _threaded(entry: TimelineEntry) -> bool:
    """Every timeline entry goes to the thread except the trigger and Slack's own delivery troubles."""
    if entry.kind in UNTHREADED:
        return False
    return not str((entry.data or {}).get("kind", "")).startswith("slack.")
