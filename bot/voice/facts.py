"""From database rows to the plain facts a summary speaks, and who is expected to be phoned at each level.

"Who else was paged" for a call at escalation level L is everyone the frozen policy's earlier levels resolve to at
that moment (the callee excluded), so the same words come out when the incident triggers (pre-synthesis) and when
the call is due: the audio rendered ahead is found in the cache by its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.models import Team, User
from bot.escalation import recipients, snapshot
from bot.escalation.models import Escalation
from bot.incidents.models import Incident
from bot.notify.channels import ChannelName
from bot.voice.summary import IncidentFacts, clock_time

TITLE_WORDS = 30


@dataclass(frozen=True)
class Callee:
    """Someone the policy will phone at `level`, as far as can be told now."""

    user_id: int
    name: str
    language: str
    time_zone: str
    level: int


def escalation_of(session: Session, incident: Incident) -> Escalation | None:
    return session.scalars(select(Escalation).where(Escalation.incident_id == incident.id)).one_or_none()


def team_settings(session: Session, incident: Incident, escalation: Escalation | None) -> Mapping[str, Any]:
    team_id = escalation.team_id if escalation else (incident.service.team_id if incident.service else None)
    team = session.get(Team, team_id) if team_id else None
    return team.settings if team else {}


def team_name(session: Session, incident: Incident, escalation: Escalation | None) -> str | None:
    team_id = escalation.team_id if escalation else (incident.service.team_id if incident.service else None)
    team = session.get(Team, team_id) if team_id else None
    return team.name if team else None


def plain_title(title: str) -> str:
    """The title as a sentence to read out: no trailing dot, at most TITLE_WORDS whole words."""
    words = title.strip().rstrip(".").split()
    return " ".join(words[:TITLE_WORDS])


def others_paged(
    session: Session, escalation: Escalation | None, level: int | None, now: datetime, callee_id: int | None
) -> tuple[str, ...]:
    if escalation is None or not escalation.policy or not level:
        return ()
    policy = snapshot.policy_of(escalation)
    names: list[str] = []
    for earlier in policy.levels[: min(level, len(policy.levels))]:
        for user in recipients.resolve(session, earlier.targets, now).people:
            if user.id != callee_id and user.name not in names:
                names.append(user.name)
    return tuple(names)


def facts(
    session: Session,
    incident: Incident,
    *,
    time_zone: str,
    now: datetime,
    level: int | None = None,
    callee_id: int | None = None,
) -> IncidentFacts:
    escalation = escalation_of(session, incident)
    return IncidentFacts(
        number=incident.number,
        severity=incident.severity,
        state=incident.state,
        what=plain_title(incident.title),
        since=clock_time(incident.created_at, time_zone),
        alert_count=max(1, incident.alert_count),
        service=incident.service.name if incident.service else None,
        others=others_paged(session, escalation, level, now, callee_id),
        is_drill=incident.is_drill,
        resolved_by=incident.resolved_by,
    )


def expected_callees(session: Session, incident: Incident, now: datetime) -> list[Callee]:
    """Everyone the frozen policy would phone, level by level (first round), resolved now."""
    escalation = escalation_of(session, incident)
    if escalation is None or not escalation.policy or escalation.state in ("quiet", "finished"):
        return []
    policy, profile = snapshot.policy_of(escalation), snapshot.profile_of(escalation)
    found: list[Callee] = []
    for index, level in enumerate(policy.levels):
        if ChannelName.VOICE.value not in (level.channels or profile.channels):
            continue
        for user in recipients.resolve(session, level.targets, now).people:
            if user.phone:
                found.append(_callee(user, index))
    return found


def _callee(user: User, level: int) -> Callee:
    return Callee(user.id, user.name, user.language or "en", user.time_zone or "UTC", level)
