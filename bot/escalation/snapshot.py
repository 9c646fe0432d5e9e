"""What is frozen when an incident triggers, and why.

The policy in force is the one of the incident's service (else the policy named by
`HERALD_DEFAULT_ESCALATION_POLICY`) *at the moment the incident triggers*: its levels, targets, waits, channels and
repeat count are copied onto the escalation row, with the team's paging profile for the incident's severity (channels,
forced response, SLA, ack timeout) and the channel that receives posts and warnings. Editing or deleting the policy
afterwards changes only incidents that trigger later (Grafana OnCall's escalation snapshot, GoAlert's behaviour).
What is *not* frozen is who a schedule or team target means: that is resolved when each level fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.models import Service, Team
from bot.escalation.models import Escalation, EscalationPolicy, ServicePolicy
from bot.escalation.policy import Policy, PolicyIn
from bot.escalation.profile import PagingProfile, profile_for
from bot.incidents.models import Incident
from bot.settings import Settings


@dataclass(frozen=True)
class Frozen:
    policy: Policy | None
    profile: PagingProfile
    team_id: int | None
    channel: str


def policy_row_for(session: Session, service: Service | None, settings: Settings) -> EscalationPolicy | None:
    if service is not None:
        row = session.scalars(
            select(EscalationPolicy)
            .join(ServicePolicy, ServicePolicy.policy_id == EscalationPolicy.id)
            .where(ServicePolicy.service_id == service.id)
        ).one_or_none()
        if row is not None:
            return row
    if settings.default_escalation_policy:
        return session.scalars(
            select(EscalationPolicy).where(EscalationPolicy.name == settings.default_escalation_policy)
        ).one_or_none()
    return None


def team_settings(session: Session, team_id: int | None) -> Mapping[str, Any]:
    team = session.get(Team, team_id) if team_id else None
    return team.settings if team else {}


def freeze(session: Session, *, incident: Incident, service: Service | None, settings: Settings) -> Frozen:
    row = policy_row_for(session, service, settings)
    policy = PolicyIn.model_validate(row.definition).to_policy() if row else None
    team_id = (service.team_id if service else None) or (row.team_id if row else None)
    team = session.get(Team, team_id) if team_id else None
    channel = (
        (service.slack_channel if service else None)
        or (team.slack_channel if team else None)
        or settings.slack_default_channel
    )
    profile = profile_for(incident.severity, settings, team.settings if team else None)
    return Frozen(policy=policy, profile=profile, team_id=team_id, channel=channel)


def quiet_reason(incident: Incident, frozen: Frozen) -> str | None:
    """Why this incident pages nobody, or None when it pages."""
    if incident.paging_suppressed:
        return "paging is suppressed (maintenance window)"
    if frozen.policy is None:
        service = incident.service.name if incident.service else "this incident"
        return f"{service} has no escalation policy"
    if not frozen.profile.channels:
        return f"{incident.severity} is recorded only (summarised in the team's daily digest)"
    return None


def policy_of(escalation: Escalation) -> Policy:
    return Policy.from_dict(escalation.policy)


def profile_of(escalation: Escalation) -> PagingProfile:
    return PagingProfile.from_dict(escalation.profile)
