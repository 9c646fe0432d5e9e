"""Two-way sync: incidents that came from VictorOps and are acknowledged/resolved in Herald are acknowledged/resolved
in VictorOps too, through the durable outbox (retries with backoff; a VictorOps outage delays, never loses).

The subscriber runs inside the transaction that changed the incident and only writes an outbox row; the handler
does the HTTP later. Changes whose source is VictorOps itself (REST ACKNOWLEDGEMENT/RECOVERY, outgoing webhooks)
are not sent back, which is what keeps the two systems from echoing each other forever.
An incident Herald knows only by entity_id (ingested through the REST endpoint) is looked up in VictorOps' current
incidents at delivery time; if VictorOps has none open for that entity there is nothing to sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.incidents.events import EventKind, IncidentEvent
from bot.incidents.models import Alert, Incident
from bot.notify.outbox import Handler, OutboxMessage, PermanentFailure, enqueue, record_delivery
from bot.runtime import Runtime
from bot.victorops.client import VictorOpsClient, VictorOpsError
from bot.victorops.webhooks import SOURCE, VICTOROPS_SOURCES

KIND = "victorops.sync"
_ACTIONS = {EventKind.ACKNOWLEDGED: "ack", EventKind.RESOLVED: "resolve"}


def subscriber(clock: Clock) -> Callable[[Session, IncidentEvent], None]:
    def on_event(session: Session, event: IncidentEvent) -> None:
        action = _ACTIONS.get(event.kind)
        if action is None or event.source == SOURCE:
            return
        incident = session.get(Incident, event.incident_id)
        if incident is None or incident.source not in VICTOROPS_SOURCES:
            return
        entity_ids = [
            labels.get("entity_id")
            for labels in session.scalars(
                select(Alert.labels).where(Alert.incident_id == incident.id, Alert.source == SOURCE)
            )
            if labels.get("entity_id")
        ]
        note = event.data.get("note")
        message = f"{'Acknowledged' if action == 'ack' else 'Resolved'} in Herald by {event.actor} via {event.source}"
        enqueue(
            session,
            clock=clock,
            kind=KIND,
            key=f"victorops:{action}:{incident.id}",
            payload={
                "action": action,
                "incident_name": incident.external_id,
                "entity_ids": sorted(set(entity_ids)),
                "message": f"{message}: {note}" if note else message,
            },
            incident_id=incident.id,
        )

    return on_event


class SyncHandler:
    """The outbox handler: one VictorOps API call per message, and a receipt on the incident's timeline."""

    def __init__(self, client: VictorOpsClient, *, user: str, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._client = client
        self._user = user
        self._sessions = sessions
        self._clock = clock

    def __call__(self, message: OutboxMessage) -> None:
        payload: dict[str, Any] = message.payload
        action = payload["action"]
        try:
            names = [payload["incident_name"]] if payload.get("incident_name") else self._lookup(payload)
            if not names:
                entities = ", ".join(payload.get("entity_ids") or []) or "this incident"
                self._receipt(message, f"VictorOps has no open incident for {entities}; nothing to {action}")
                return
            call = self._client.ack if action == "ack" else self._client.resolve
            results = call(names, user=self._user, message=payload["message"])
        except VictorOpsError as exc:
            if exc.retryable:
                raise
            raise PermanentFailure(str(exc)) from exc
        refused = [r.incident_number for r in results if not r.accepted]
        if refused or not results:
            raise PermanentFailure(
                f"VictorOps did not accept {action} of incident {', '.join(refused or names)} "
                "(already acknowledged or resolved there?)"
            )
        verb = "Acknowledged" if action == "ack" else "Resolved"
        self._receipt(message, f"{verb} in VictorOps: incident #{', #'.join(names)}")

    def _lookup(self, payload: dict[str, Any]) -> list[str]:
        wanted = set(payload.get("entity_ids") or [])
        if not wanted:
            return []
        return [
            str(i["incidentNumber"])
            for i in self._client.incidents()
            if i.get("entityId") in wanted and i.get("currentPhase") in ("UNACKED", "ACKED") and i.get("incidentNumber")
        ]

    def _receipt(self, message: OutboxMessage, text: str) -> None:
        record_delivery(self._sessions, self._clock, message, kind="victorops_synced", text=text)


def install(runtime: Runtime, handlers: dict[str, Handler]) -> None:
    """Sync only when the VictorOps API credentials are set; `/healthz` says which."""
    settings = runtime.settings
    api_key = settings.victorops_api_key.get_secret_value()
    if not (settings.victorops_api_id and api_key):
        runtime.health["victorops_sync"] = "not configured (HERALD_VICTOROPS_API_ID / HERALD_VICTOROPS_API_KEY)"
        return
    client = VictorOpsClient(base_url=settings.victorops_api_url, api_id=settings.victorops_api_id, api_key=api_key)
    runtime.events.subscribe(subscriber(runtime.clock))
    handlers[KIND] = SyncHandler(client, user=settings.victorops_user, sessions=runtime.sessions, clock=runtime.clock)
    runtime.health["victorops_sync"] = f"enabled as {settings.victorops_user} at {settings.victorops_api_url}"
