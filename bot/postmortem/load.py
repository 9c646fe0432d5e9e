"""Reading what post-mortems and reports need, in the caller's session: the only module here that queries.

Notifications, SLA deadlines and breaches are the escalation domain's rows (`bot.escalation.models`); this module
turns them into the narrow read records `build.py` and `metrics.py` take, so the pure code never sees an ORM row
from another domain and the queries live in one place. Drills are never part of a report.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.directory.models import Service, Team
from bot.escalation.models import Escalation, Notification
from bot.incidents import service as incidents
from bot.incidents.models import Incident, TimelineEntry
from bot.postmortem.build import PageRecord, SlaRecord, Sources
from bot.postmortem.metrics import IncidentRecord

DELIVERED = ("sent", "acknowledged")


def sources(session: Session, *, number: int) -> Sources:
    """One incident with its alerts, timeline, notifications and SLA (NotFound for an unknown number)."""
    incident = incidents.get_with_timeline(session, number=number)
    service = session.get(Service, incident.service_id) if incident.service_id else None
    escalation = session.scalars(select(Escalation).where(Escalation.incident_id == incident.id)).one_or_none()
    team = _team_name(session, (escalation.team_id if escalation else None) or (service.team_id if service else None))
    notifications = session.scalars(
        select(Notification).where(Notification.incident_id == incident.id).order_by(Notification.id)
    )
    return Sources(
        incident=incident,
        service=service.name if service else None,
        team=team,
        alerts=list(incident.alerts),
        timeline=list(incident.timeline),
        pages=[_page(n) for n in notifications],
        sla=_sla(escalation),
    )


def team_of(session: Session, *, number: int) -> str | None:
    """The team whose templates render this incident (the service's team)."""
    incident = incidents.get(session, number=number)
    service = session.get(Service, incident.service_id) if incident.service_id else None
    return _team_name(session, service.team_id if service else None)


def records(
    session: Session, *, start: datetime, end: datetime, team: str | None = None, service: str | None = None
) -> list[IncidentRecord]:
    """Non-drill incidents created in [start, end), with first acknowledgement, SLA and delivered pages."""
    query = (
        select(Incident, Service.name, Team.name, Escalation.sla_due_at, Escalation.sla_breached_at)
        .outerjoin(Service, Service.id == Incident.service_id)
        .outerjoin(Team, Team.id == Service.team_id)
        .outerjoin(Escalation, Escalation.incident_id == Incident.id)
        .where(Incident.created_at >= start, Incident.created_at < end, Incident.is_drill.is_(False))
        .order_by(Incident.number)
    )
    if team is not None:
        query = query.where(func.lower(Team.name) == team.lower())
    if service is not None:
        query = query.where(func.lower(Service.name) == service.lower())
    rows = session.execute(query).all()
    ids = [row[0].id for row in rows]
    first_acks = _first_acks(session, ids)
    pages = _pages_by_incident(session, ids)
    return [
        IncidentRecord(
            number=incident.number,
            team=team_name,
            service=service_name,
            severity=incident.severity,
            created_at=incident.created_at,
            acknowledged_at=first_acks.get(incident.id, incident.acknowledged_at),
            resolved_at=incident.resolved_at,
            sla_due_at=due,
            sla_breached_at=breached,
            paged=tuple(pages.get(incident.id, ())),
        )
        for incident, service_name, team_name, due, breached in rows
    ]


def known_team(session: Session, name: str) -> bool:
    return session.scalar(select(func.count()).where(func.lower(Team.name) == name.lower())) > 0


def known_service(session: Session, name: str) -> bool:
    return session.scalar(select(func.count()).where(func.lower(Service.name) == name.lower())) > 0


def _first_acks(session: Session, incident_ids: list[int]) -> dict[int, datetime]:
    if not incident_ids:
        return {}
    rows = session.execute(
        select(TimelineEntry.incident_id, func.min(TimelineEntry.at))
        .where(TimelineEntry.incident_id.in_(incident_ids), TimelineEntry.kind == "acknowledged")
        .group_by(TimelineEntry.incident_id)
    )
    return {incident_id: first for incident_id, first in rows}


def _pages_by_incident(session: Session, incident_ids: list[int]) -> dict[int, list[str]]:
    """One page per person per escalation step: the channels and fallbacks of one step disturb a person once."""
    if not incident_ids:
        return {}
    rows = session.execute(
        select(Notification.incident_id, Notification.target, Notification.step_id, Notification.id)
        .where(
            Notification.incident_id.in_(incident_ids),
            Notification.kind == "page",
            Notification.user_id.is_not(None),
            Notification.status.in_(DELIVERED),
        )
        .order_by(Notification.id)
    )
    seen: set[tuple[int, str, int]] = set()
    paged: dict[int, list[str]] = defaultdict(list)
    for incident_id, target, step_id, notification_id in rows:
        key = (incident_id, target, step_id if step_id is not None else -notification_id)
        if key not in seen:
            seen.add(key)
            paged[incident_id].append(target)
    return paged


def _team_name(session: Session, team_id: int | None) -> str | None:
    team = session.get(Team, team_id) if team_id else None
    return team.name if team else None


def _page(row: Notification) -> PageRecord:
    return PageRecord(
        id=row.id,
        at=row.created_at,
        kind=row.kind,
        channel=row.channel,
        target=row.target,
        person=row.user_id is not None,
        level=row.level,
        round=row.round,
        status=row.status,
        error=row.error,
        tries=row.tries,
        sent_at=row.sent_at,
        fallback_of=row.fallback_of,
    )


def _sla(escalation: Escalation | None) -> SlaRecord | None:
    if escalation is None or (escalation.sla_due_at is None and escalation.sla_breached_at is None):
        return None
    return SlaRecord(
        due_at=escalation.sla_due_at,
        breached_at=escalation.sla_breached_at,
        policy=(escalation.policy or {}).get("name"),
    )
