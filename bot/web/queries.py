"""What the console's pages show, read in the caller's session: the only module of `bot/web` that queries.

Changes go through the domains' services (`views.py` calls them); reads that no service offers in the shape a page
needs live here, so a page costs a fixed number of queries whatever its size: the incident list is one query with
its SLA deadlines (the escalation domain's rows) joined in, not one query per incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from bot.directory.models import Service, Team, User
from bot.errors import NotFound
from bot.escalation import service as escalation
from bot.escalation.models import Escalation, Notification
from bot.escalation.service import EscalationView
from bot.incidents import service as incidents
from bot.incidents.models import Alert, Incident, TimelineEntry
from bot.incidents.states import OPEN_STATES, State
from bot.slack.models import SlackMessage
from bot.voice import presynth
from bot.voice.models import Callout, CalloutIncident, VoiceClip

RECENT = timedelta(hours=24)
STATE_FILTERS = ("", "open", "triggered", "acknowledged", "resolved", "all")


@dataclass(frozen=True)
class SlaClock:
    """An incident's response deadline: running (time left), breached, met, or none at all."""

    due_at: datetime | None
    breached_at: datetime | None
    answered_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.due_at is None and self.breached_at is None:
            return "none"
        if self.breached_at is not None:
            return "breached"
        assert self.due_at is not None
        if self.answered_at is not None:
            return "met" if self.answered_at <= self.due_at else "breached"
        return "running" if now < self.due_at else "breached"


@dataclass(frozen=True)
class IncidentRow:
    number: int
    title: str
    severity: str
    state: str
    service: str | None
    team: str | None
    assignee: str | None
    alert_count: int
    is_drill: bool
    created_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    resolved_by: str | None
    sla: SlaClock

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Filters:
    state: str = ""  # "": open and resolved in the last 24 h
    service: str = ""
    team: str = ""

    def query(self) -> dict[str, str]:
        return {key: value for key, value in vars(self).items() if value}


@dataclass(frozen=True)
class SlackThread:
    channel: str
    url: str


@dataclass(frozen=True)
class CallView:
    """One phone call about the incident: who, how it ended, the keys pressed, and what it said."""

    at: datetime
    callee: str
    status: str
    outcome: str | None
    keys: str
    text: str
    voice: str
    clip_key: str | None


@dataclass(frozen=True)
class IncidentDetail:
    row: IncidentRow
    summary: str
    labels: dict[str, Any]
    source: str
    external_id: str | None
    timeline: list[TimelineEntry]
    alerts: list[Alert]
    notifications: list[Notification]
    escalation: EscalationView | None
    slack: SlackThread | None
    calls: list[CallView]


def incident_rows(session: Session, *, filters: Filters, now: datetime, limit: int = 200) -> list[IncidentRow]:
    """Newest first; the default view is every open incident and those resolved in the last 24 hours."""
    assignee = aliased(User)
    query = (
        select(Incident, Service.name, Team.name, assignee.name, Escalation.sla_due_at, Escalation.sla_breached_at)
        .outerjoin(Service, Service.id == Incident.service_id)
        .outerjoin(Team, Team.id == Service.team_id)
        .outerjoin(assignee, assignee.id == Incident.assignee_id)
        .outerjoin(Escalation, Escalation.incident_id == Incident.id)
        .order_by(Incident.number.desc())
        .limit(limit)
    )
    if filters.state == "":
        query = query.where(or_(Incident.state.in_(OPEN_STATES), Incident.resolved_at >= now - RECENT))
    elif filters.state == "open":
        query = query.where(Incident.state.in_(OPEN_STATES))
    elif filters.state in {s.value for s in State}:
        query = query.where(Incident.state == filters.state)
    if filters.service:
        query = query.where(Service.name == filters.service)
    if filters.team:
        query = query.where(Team.name == filters.team)
    return [
        _row(incident, service, team, person, SlaClock(due, breached, _answered(incident)))
        for incident, service, team, person, due, breached in session.execute(query)
    ]


def filter_choices(session: Session) -> tuple[list[str], list[str]]:
    """Service and team names for the filter menus."""
    services = list(session.scalars(select(Service.name).order_by(Service.name)))
    teams = list(session.scalars(select(Team.name).order_by(Team.name)))
    return services, teams


def incident_detail(session: Session, *, number: int) -> IncidentDetail:
    incident = incidents.get_with_timeline(session, number=number)
    service = incident.service
    team = service.team if service else None
    view = escalation.escalation_of(session, incident=incident)
    sla = SlaClock(view.sla_due_at if view else None, view.sla_breached_at if view else None, _answered(incident))
    assignee = incident.assignee.name if incident.assignee else None
    return IncidentDetail(
        row=_row(incident, service.name if service else None, team.name if team else None, assignee, sla),
        summary=incident.summary,
        labels=dict(incident.labels or {}),
        source=incident.source,
        external_id=incident.external_id,
        timeline=list(incident.timeline),
        alerts=list(incident.alerts),
        notifications=escalation.notifications_of(session, incident=incident),
        escalation=view,
        slack=_slack_thread(session, incident.id),
        calls=calls_of(session, incident_id=incident.id),
    )


def calls_of(session: Session, *, incident_id: int) -> list[CallView]:
    query = (
        select(Callout)
        .join(CalloutIncident, CalloutIncident.call_id == Callout.id)
        .where(CalloutIncident.incident_id == incident_id)
        .order_by(Callout.id)
    )
    return [
        CallView(
            at=call.created_at,
            callee=str(call.data.get("recipient") or call.callee),
            status=call.status,
            outcome=call.outcome,
            keys=call.keys,
            text=call.text,
            voice=str(call.data.get("voice", "")),
            clip_key=call.clip_key,
        )
        for call in session.scalars(query)
    ]


def call_audio(session: Session, *, incident_id: int, key: str) -> VoiceClip:
    """The clip a call about this incident played (NotFound for any other clip: the URL names the incident)."""
    played = session.scalar(
        select(Callout.id)
        .join(CalloutIncident, CalloutIncident.call_id == Callout.id)
        .where(CalloutIncident.incident_id == incident_id, Callout.clip_key == key)
        .limit(1)
    )
    clip = presynth.cached(session, key) if played is not None else None
    if clip is None:
        raise NotFound(f"no call audio {key!r} for this incident")
    return clip


def _row(incident: Incident, service: str | None, team: str | None, assignee: str | None, sla: SlaClock) -> IncidentRow:
    return IncidentRow(
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        state=incident.state,
        service=service,
        team=team,
        assignee=assignee,
        alert_count=incident.alert_count,
        is_drill=incident.is_drill,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_by=incident.resolved_by,
        sla=sla,
    )


def _answered(incident: Incident) -> datetime | None:
    times = [t for t in (incident.acknowledged_at, incident.resolved_at) if t is not None]
    return min(times) if times else None


def _slack_thread(session: Session, incident_id: int) -> SlackThread | None:
    """The incident's Slack message once posted (channel id + ts), as a link Slack resolves to the workspace."""
    row = session.get(SlackMessage, incident_id)
    if row is None or not row.ts:
        return None
    return SlackThread(channel=row.channel, url=f"https://slack.com/archives/{row.channel}/p{row.ts.replace('.', '')}")
