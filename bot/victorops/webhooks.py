"""VictorOps outgoing webhooks → incidents mirrored in Herald (created, acknowledged, resolved).

VictorOps sends whatever body the admin typed, with `${{VARIABLE}}`s replaced; Herald documents one template
(fixtures `victorops-outgoing/template.json`, README). Because VictorOps does not say whether it JSON-escapes what
it substitutes, the body is parsed leniently: raw newlines and tabs inside strings are accepted, values may be
strings or numbers, and a missing `herald_event` is inferred from `current_phase`.

Mirroring finds the Herald incident by the VictorOps incident number; failing that, by the VictorOps alert of the
same routing key and entity_id that Herald ingested through the REST endpoint (and links the two, so one problem
stays one incident); else it opens one. A webhook that arrives after Herald already made the change (Herald acked,
VictorOps echoes Incident-Acknowledged) is a no-op. Changes carry source "victorops", so they are never synced back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory import service as directory_service
from bot.errors import InvalidInput
from bot.incidents import service as incident_service
from bot.incidents.events import EventBus
from bot.incidents.models import Alert, Incident
from bot.incidents.states import OPEN_STATES, State
from bot.ingestion.event import bounded, severity_from_word
from bot.ingestion.service import lock_services

SOURCE = "victorops"
MIRROR_SOURCE = "victorops-mirror"
VICTOROPS_SOURCES = (SOURCE, MIRROR_SOURCE)
SYSTEM_USER = "SYSTEM"


class Phase(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_EVENTS = {
    "incident-triggered": Phase.TRIGGERED,
    "incident-acknowledged": Phase.ACKNOWLEDGED,
    "incident-resolved": Phase.RESOLVED,
}
_PHASES = {"UNACKED": Phase.TRIGGERED, "ACKED": Phase.ACKNOWLEDGED, "RESOLVED": Phase.RESOLVED}


@dataclass(frozen=True)
class Notice:
    phase: Phase
    incident_name: str
    entity_id: str
    display_name: str
    routing_key: str
    state: str
    user: str | None  # who acked/resolved in VictorOps; None for SYSTEM (automatic)
    message: str


@dataclass(frozen=True)
class MirrorResult:
    outcome: str  # opened | linked | acknowledged | resolved | duplicate | ignored
    incident_number: int | None


def parse(raw: bytes) -> Notice:
    try:
        data = json.loads(raw, strict=False)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"VictorOps webhook body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("VictorOps webhook body must be a JSON object")
    text = {key: _text(key, value) for key, value in data.items()}
    phase = _EVENTS.get(text.get("herald_event", "").strip().lower()) or _PHASES.get(
        text.get("current_phase", "").strip().upper()
    )
    if phase is None:
        raise InvalidInput(
            "cannot tell the event: set herald_event to Incident-Triggered, Incident-Acknowledged or "
            "Incident-Resolved (or send current_phase UNACKED, ACKED or RESOLVED)"
        )
    name = text.get("incident_name", "").strip()
    if not name or len(name) > 100 or "${{" in name:
        raise InvalidInput("incident_name must be the VictorOps incident number (${{STATE.INCIDENT_NAME}})")
    user = text.get("ack_user", "").strip()
    return Notice(
        phase=phase,
        incident_name=name,
        entity_id=text.get("entity_id", "")[:512],
        display_name=(text.get("entity_display_name") or text.get("service") or f"VictorOps incident #{name}")[:500],
        routing_key=text.get("routing_key", "").strip()[:200],
        state=text.get("current_state", ""),
        user=user if user and user != SYSTEM_USER else None,
        message=(text.get("ack_msg") or text.get("state_message") or "")[:2000],
    )


def _text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float | bool):
        return str(value)
    raise InvalidInput(f"{key}: expected a string or a number, not {type(value).__name__}")


def mirror(session: Session, *, clock: Clock, events: EventBus, notice: Notice) -> MirrorResult:
    service = None
    if notice.routing_key:
        service = directory_service.resolve_routing_keys(session, clock=clock, keys=[notice.routing_key])[
            notice.routing_key
        ]
        lock_services(session, [service.id])
    incident = _by_number(session, notice.incident_name)
    outcome = None
    if incident is None and service is not None and notice.entity_id:
        incident = _by_entity(session, notice)
        if incident is not None:
            incident_service.link_external(
                session,
                clock=clock,
                incident=incident,
                external_id=notice.incident_name,
                system="VictorOps",
                actor="victorops",
                source=SOURCE,
            )
            outcome = "linked"
    if incident is None:
        if notice.phase is Phase.RESOLVED:
            return MirrorResult("ignored", None)
        incident = incident_service.open_incident(
            session,
            clock=clock,
            events=events,
            title=notice.display_name,
            severity=severity_from_word(notice.state, default=severity_from_word("critical")),
            service=service,
            group_key=bounded(f"vo:{notice.routing_key}:{notice.entity_id or notice.incident_name}", 500),
            source=MIRROR_SOURCE,
            actor="victorops",
            summary=notice.message,
            external_id=notice.incident_name,
            # Mirrored after the fact (we missed Incident-Triggered): on record, but VictorOps already paged.
            paging_suppressed=notice.phase is not Phase.TRIGGERED,
        )
        outcome = "opened"
    changed = _apply(session, clock=clock, events=events, incident=incident, notice=notice)
    return MirrorResult(outcome or changed or "duplicate", incident.number)


def _apply(session: Session, *, clock: Clock, events: EventBus, incident: Incident, notice: Notice) -> str | None:
    actor = notice.user or "victorops"
    common = {"clock": clock, "events": events, "incident": incident, "source": SOURCE}
    if notice.phase is Phase.ACKNOWLEDGED and incident.state == State.TRIGGERED.value:
        incident_service.acknowledge(session, actor=actor, **common)
        if notice.message:
            incident_service.add_note(session, actor=actor, text=notice.message, **common)
        return "acknowledged"
    if notice.phase is Phase.RESOLVED and incident.state in OPEN_STATES:
        incident_service.resolve(session, actor=actor, note=notice.message or None, **common)
        return "resolved"
    return None


def _by_number(session: Session, number: str) -> Incident | None:
    return session.scalars(
        select(Incident)
        .where(Incident.external_id == number, Incident.source.in_(VICTOROPS_SOURCES))
        .order_by(Incident.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def _by_entity(session: Session, notice: Notice) -> Incident | None:
    """The open incident holding the REST-endpoint alert of this routing key and entity (not yet linked)."""
    return session.scalars(
        select(Incident)
        .join(Alert, Alert.incident_id == Incident.id)
        .where(
            Alert.source == SOURCE,
            Alert.dedup_key == bounded(f"{notice.routing_key}/{notice.entity_id}", 700),
            Incident.state.in_(OPEN_STATES),
            Incident.external_id.is_(None),
        )
        .order_by(Incident.id.desc())
        .limit(1)
        .with_for_update(of=Incident)
    ).first()
