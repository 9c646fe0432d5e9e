"""The facts of one incident, worked out from its rows and its timeline: what a post-mortem starts from.

Pure: `build(sources, now)` reads already-loaded records and returns frozen `Facts`; the loading is `load.py`'s job
and the rendering `render.py`'s. Everything shown is a fact Herald recorded, never an estimate:

- time to acknowledge uses the *first* acknowledgement on the timeline (an incident handed back and acknowledged
  again keeps its first response time; `Incident.acknowledged_at` holds the latest one);
- the SLA verdict is the escalation's recorded breach, or, where the engine has not ticked yet, the deadline
  compared with the first response (acknowledge or resolve) as of `now`;
- "who acted" is every human actor on the timeline (Herald's engine, and a monitoring integration resolving an
  incident as itself, are not people);
- notes are the timeline's `note` entries, from Slack or any other edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.incidents.models import Alert, Incident, TimelineEntry

MACHINE_ACTORS = frozenset({"herald", "engine", "system"})  # plus an integration acting as itself (alertmanager)
CHANNEL_LABELS = {"voice": "phone call", "slack_dm": "Slack DM", "slack_channel": "Slack channel", "email": "e-mail"}
ACTION_KINDS = {
    "acknowledged": "acknowledged",
    "unacknowledged": "handed back",
    "resolved": "resolved",
    "note": "added a note",
    "escalated": "escalated",
    "severity_raised": "raised the severity",
}


@dataclass(frozen=True)
class PageRecord:
    """One notification attempt as the escalation domain stored it (read model; see `load.py`)."""

    id: int
    at: datetime
    kind: str  # page | warning | ack_reminder
    channel: str  # voice | slack_dm | slack_channel | email
    target: str
    person: bool  # a person (True) or a channel post (False)
    level: int | None
    round: int | None
    status: str  # pending | sent | failed | acknowledged | cancelled
    error: str | None
    tries: int
    sent_at: datetime | None
    fallback_of: int | None


@dataclass(frozen=True)
class SlaRecord:
    due_at: datetime | None
    breached_at: datetime | None
    policy: str | None


@dataclass(frozen=True)
class Sources:
    """Everything `build` reads, loaded in one transaction."""

    incident: Incident
    service: str | None
    team: str | None
    alerts: Sequence[Alert]
    timeline: Sequence[TimelineEntry]
    pages: Sequence[PageRecord] = ()
    sla: SlaRecord | None = None


@dataclass(frozen=True)
class AlertFact:
    title: str
    source: str
    severity: str
    status: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    deliveries: int


@dataclass(frozen=True)
class Page:
    at: datetime
    target: str
    channel: str
    kind: str
    level: int | None
    round: int | None
    status: str
    outcome: str
    sent_at: datetime | None
    tries: int
    is_fallback: bool


@dataclass(frozen=True)
class Action:
    at: datetime
    what: str
    source: str


@dataclass(frozen=True)
class Responder:
    name: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Note:
    at: datetime
    author: str
    source: str
    text: str


@dataclass(frozen=True)
class LevelFact:
    at: datetime
    level: int  # 1-based, as people say it
    round: int
    reached: tuple[str, ...]


@dataclass(frozen=True)
class Sla:
    target: timedelta | None
    due_at: datetime | None
    breached: bool
    breached_at: datetime | None
    policy: str | None


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    actor: str
    source: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    number: int
    title: str
    summary: str
    severity: str
    state: str
    is_drill: bool
    source: str
    external_id: str | None
    service: str | None
    team: str | None
    labels: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    duration: timedelta | None
    time_to_acknowledge: timedelta | None
    time_to_resolve: timedelta | None
    sla: Sla | None
    alert_count: int
    first_alert_at: datetime | None
    last_alert_at: datetime | None
    alerts: tuple[AlertFact, ...]
    pages: tuple[Page, ...]
    levels: tuple[LevelFact, ...]
    responders: tuple[Responder, ...]
    notes: tuple[Note, ...]
    timeline: tuple[Event, ...]
    generated_at: datetime

    @property
    def people_paged(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.target for p in self.pages if p.kind == "page" and p.channel != "slack_channel"))


def build(sources: Sources, now: datetime) -> Facts:
    incident = sources.incident
    events = tuple(
        Event(at=e.at, kind=e.kind, actor=e.actor, source=e.source, message=e.message, data=dict(e.data or {}))
        for e in sorted(sources.timeline, key=lambda e: (e.at, e.id))
    )
    first_ack = next((e for e in events if e.kind == "acknowledged"), None)
    acknowledged_at = first_ack.at if first_ack else incident.acknowledged_at
    acknowledged_by = first_ack.actor if first_ack else incident.acknowledged_by
    resolved_at = incident.resolved_at
    alerts = tuple(_alert(a) for a in sorted(sources.alerts, key=lambda a: (a.first_received_at, a.id)))
    alert_times = [t for a in alerts for t in (a.first_seen, a.last_seen)]
    return Facts(
        number=incident.number,
        title=incident.title,
        summary=incident.summary,
        severity=incident.severity,
        state=incident.state,
        is_drill=incident.is_drill,
        source=incident.source,
        external_id=incident.external_id,
        service=sources.service,
        team=sources.team,
        labels=dict(incident.labels or {}),
        created_at=incident.created_at,
        acknowledged_at=acknowledged_at,
        acknowledged_by=acknowledged_by,
        resolved_at=resolved_at,
        resolved_by=incident.resolved_by,
        duration=(resolved_at - incident.created_at) if resolved_at else None,
        time_to_acknowledge=(acknowledged_at - incident.created_at) if acknowledged_at else None,
        time_to_resolve=(resolved_at - incident.created_at) if resolved_at else None,
        sla=_sla(sources.sla, incident, acknowledged_at, events, now),
        alert_count=max(incident.alert_count, len(alerts)),
        first_alert_at=min(alert_times) if alert_times else None,
        last_alert_at=max(alert_times) if alert_times else None,
        alerts=alerts,
        pages=tuple(_page(p) for p in sorted(sources.pages, key=lambda p: (p.at, p.id))),
        levels=tuple(_level(e) for e in events if e.kind == "escalation_level"),
        responders=_responders(events),
        notes=tuple(Note(at=e.at, author=e.actor, source=e.source, text=e.message) for e in events if e.kind == "note"),
        timeline=events,
        generated_at=now,
    )


def first_response(acknowledged_at: datetime | None, resolved_at: datetime | None) -> datetime | None:
    """When someone first answered: acknowledged, or resolved without an acknowledgement."""
    times = [t for t in (acknowledged_at, resolved_at) if t is not None]
    return min(times) if times else None


def sla_breached(due_at: datetime | None, responded_at: datetime | None, now: datetime) -> bool:
    """Late answer, or no answer and the deadline has passed (shared with the report arithmetic)."""
    if due_at is None:
        return False
    if responded_at is None:
        return now > due_at
    return responded_at > due_at


def _sla(
    record: SlaRecord | None,
    incident: Incident,
    acknowledged_at: datetime | None,
    events: Sequence[Event],
    now: datetime,
) -> Sla | None:
    recorded = next((e for e in events if e.kind == "sla_breached"), None)
    if record is None and recorded is None:
        return None
    due_at = record.due_at if record else None
    if due_at is None and recorded is not None and recorded.data.get("due_at"):
        due_at = datetime.fromisoformat(recorded.data["due_at"])
    breached_at = (record.breached_at if record else None) or (recorded.at if recorded else None)
    answered = first_response(acknowledged_at, incident.resolved_at)
    breached = breached_at is not None or sla_breached(due_at, answered, now)
    if breached and breached_at is None and due_at is not None:
        breached_at = due_at
    return Sla(
        target=(due_at - incident.created_at) if due_at else None,
        due_at=due_at,
        breached=breached,
        breached_at=breached_at,
        policy=record.policy if record else None,
    )


def _alert(alert: Alert) -> AlertFact:
    return AlertFact(
        title=alert.title,
        source=alert.source,
        severity=alert.severity,
        status=alert.status,
        first_seen=alert.first_received_at,
        last_seen=alert.last_received_at,
        resolved_at=alert.resolved_at,
        deliveries=alert.deliveries,
    )


OUTCOMES = {
    "pending": "not delivered yet",
    "sent": "delivered",
    "acknowledged": "delivered, acknowledged",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _page(record: PageRecord) -> Page:
    outcome = OUTCOMES.get(record.status, record.status)
    if record.error and record.status in ("failed", "cancelled"):
        outcome = f"{outcome}: {record.error}"
    return Page(
        at=record.at,
        target=record.target,
        channel=record.channel,
        kind=record.kind,
        level=None if record.level is None else record.level + 1,
        round=record.round,
        status=record.status,
        outcome=outcome,
        sent_at=record.sent_at,
        tries=record.tries,
        is_fallback=record.fallback_of is not None,
    )


def _level(event: Event) -> LevelFact:
    return LevelFact(
        at=event.at,
        level=int(event.data.get("level", 0)) + 1,
        round=int(event.data.get("round", 0)),
        reached=tuple(event.data.get("reached", ())),
    )


def _responders(events: Sequence[Event]) -> tuple[Responder, ...]:
    """People in the order they first acted, each with what they did."""
    acted: dict[str, list[Action]] = {}
    for event in events:
        what = ACTION_KINDS.get(event.kind)
        if what is None or _is_machine(event):
            continue
        acted.setdefault(event.actor, []).append(Action(at=event.at, what=what, source=event.source))
    return tuple(Responder(name=name, actions=tuple(actions)) for name, actions in acted.items())


def _is_machine(event: Event) -> bool:
    return event.source == "engine" or event.actor.lower() in MACHINE_ACTORS or event.actor == event.source
