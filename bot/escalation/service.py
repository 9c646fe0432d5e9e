"""Escalation use cases for the edges (HTTP, Slack, CLI, web console, phone): policies, hooks, escalate-now, drills,
pages that reached nobody, and what an incident's escalation and notifications look like now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory.models import Service, Team
from bot.errors import InvalidInput, NotFound
from bot.escalation import snapshot
from bot.escalation.hooks import validate_events
from bot.escalation.lifecycle import Lifecycle
from bot.escalation.models import (
    AutomationHook,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Notification,
    ServicePolicy,
)
from bot.escalation.notes import note_notification
from bot.escalation.policy import PolicyIn
from bot.incidents import service as incidents
from bot.incidents.events import EventBus
from bot.incidents.models import Incident
from bot.incidents.states import Severity


class HookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(pattern=r"^https?://", max_length=1000)
    secret: str = Field(min_length=8, max_length=200)
    events: list[str] = Field(default_factory=lambda: ["triggered"])
    match: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return validate_events(value)


@dataclass(frozen=True)
class EscalationView:
    state: str
    policy: str | None
    level: int
    round: int
    channels: list[str]
    next_step: str | None
    next_due_at: datetime | None
    sla_due_at: datetime | None
    sla_breached_at: datetime | None


def list_policies(session: Session) -> list[EscalationPolicy]:
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def get_policy(session: Session, name: str) -> EscalationPolicy:
    row = session.scalars(select(EscalationPolicy).where(EscalationPolicy.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"no escalation policy named {name!r}")
    return row


def upsert_policy(session: Session, *, clock: Clock, body: PolicyIn) -> tuple[EscalationPolicy, bool]:
    """Create or replace a policy by name; incidents already triggered keep the snapshot they started with."""
    definition = body.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"name": body.name}
    team_id = _team(session, body.team).id if body.team else None
    row = session.scalars(select(EscalationPolicy).where(EscalationPolicy.name == body.name)).one_or_none()
    now = clock.now()
    if row is None:
        row = EscalationPolicy(name=body.name, team_id=team_id, definition=definition, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        return row, True
    if row.definition == definition and row.team_id == team_id:
        return row, False
    row.definition, row.team_id, row.updated_at = definition, team_id, now
    return row, True


def delete_policy(session: Session, *, name: str) -> None:
    session.delete(get_policy(session, name))


def assign_policy(session: Session, *, service: Service, policy: str | None) -> bool:
    """Make `policy` the one that pages for `service` (None removes it); returns whether anything changed."""
    current = session.get(ServicePolicy, service.id)
    if policy is None:
        if current is None:
            return False
        session.delete(current)
        return True
    row = get_policy(session, policy)
    if current is not None and current.policy_id == row.id:
        return False
    if current is None:
        session.add(ServicePolicy(service_id=service.id, policy_id=row.id))
    else:
        current.policy_id = row.id
    return True


def policy_for_service(session: Session, service: Service) -> EscalationPolicy | None:
    return session.scalars(
        select(EscalationPolicy)
        .join(ServicePolicy, ServicePolicy.policy_id == EscalationPolicy.id)
        .where(ServicePolicy.service_id == service.id)
    ).one_or_none()


def upsert_hook(session: Session, *, clock: Clock, body: HookIn) -> tuple[AutomationHook, bool]:
    values: dict[str, Any] = body.model_dump(exclude={"name"})
    row = session.scalars(select(AutomationHook).where(AutomationHook.name == body.name)).one_or_none()
    now = clock.now()
    if row is None:
        row = AutomationHook(name=body.name, created_at=now, updated_at=now, **values)
        session.add(row)
        session.flush()
        return row, True
    if all(getattr(row, k) == v for k, v in values.items()):
        return row, False
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now
    return row, True


def list_hooks(session: Session) -> list[AutomationHook]:
    return list(session.scalars(select(AutomationHook).order_by(AutomationHook.name)))


def escalate_now(session: Session, *, lifecycle: Lifecycle, number: int, actor: str, source: str) -> tuple[int, int]:
    incident = incidents.get(session, number=number, for_update=True)
    return lifecycle.escalate_now(session, incident=incident, actor=actor, source=source)


def page_unanswered(
    session: Session,
    *,
    lifecycle: Lifecycle,
    notification_id: int,
    reason: str,
    source: str,
    others_pending: bool = False,
) -> int | None:
    """A page that went out reached nobody (a call busy, unanswered, failed, or answered by voicemail or with no key
    pressed): the notification fails with `reason`, the timeline says so, and the escalation moves to its next level
    now instead of waiting out this level. Returns the level (0-based) it moved to, else None.

    It stays where it is when the incident is no longer triggered; when the escalation is no longer at the page's
    level (the level's timer, an acknowledgement or an escalate-now moved it since: a late report must not skip a
    level); while `others_pending` (other pages of the level are still under way, and the last of them moves it on);
    and at the policy's last level, whose wait repeats the policy (moving on at once would phone people in a loop).
    A notification already reported (or acknowledged) is left alone, so a repeated callback cannot move it twice.
    """
    row = session.get(Notification, notification_id)
    if row is None or row.incident_id is None:
        return None
    # Lock in the order every incident change takes (the incident, then its rows): the first read only finds the
    # incident, the refresh re-reads the notification under its lock, as a concurrent callback may have settled it.
    incident = session.scalars(select(Incident).where(Incident.id == row.incident_id).with_for_update()).one()
    session.refresh(row, with_for_update=True)
    if row.status not in ("pending", "sent"):
        return None
    now = lifecycle.clock.now()
    row.status, row.error, row.updated_at = "failed", reason, now
    escalation = session.scalars(
        select(Escalation).where(Escalation.incident_id == incident.id).with_for_update()
    ).one_or_none()
    step = session.get(EscalationStep, row.step_id) if row.step_id is not None else None
    held = _held_back(incident, escalation, row, step, others_pending=others_pending)
    then = held or "moving on to the next level now"
    message = f"{row.channel} to {row.target} failed: {reason}; {then}"
    note_notification(session, incident, row, at=now, source=source, message=message)
    if held is not None:
        return None
    level, _round = lifecycle.escalate_now(session, incident=incident, actor="herald", source=source)
    return level


def _held_back(
    incident: Incident,
    escalation: Escalation | None,
    row: Notification,
    step: EscalationStep | None,
    *,
    others_pending: bool,
) -> str | None:
    """Why an unanswered page does not move the escalation on now, or None when it does."""
    if incident.state != "triggered":
        return f"the incident is {incident.state}"
    if escalation is None or not escalation.policy or escalation.state != "active":
        return "no escalation is under way"
    moved = (row.level, row.round) != (escalation.level, escalation.round) or (
        step is not None and step.generation != escalation.generation
    )
    if row.kind != "page" or moved:
        return "the escalation has moved on since"
    if others_pending:
        return f"other pages of level {escalation.level + 1} are still under way"
    if escalation.level + 1 >= len(snapshot.policy_of(escalation).levels):
        return f"level {escalation.level + 1} is the policy's last: the escalation goes on when its wait is over"
    return None


def start_drill(
    session: Session,
    *,
    clock: Clock,
    events: EventBus,
    service: str,
    actor: str,
    source: str,
    severity: Severity = Severity.P1,
) -> Incident:
    """A clearly labelled drill incident that walks the service's real escalation path (no SLA, not in reports)."""
    row = session.scalars(select(Service).where(Service.name == service)).one_or_none()
    if row is None:
        raise NotFound(f"no service named {service!r}")
    if policy_for_service(session, row) is None:
        raise InvalidInput(f"service {service!r} has no escalation policy, so a drill would page nobody")
    return incidents.open_incident(
        session,
        clock=clock,
        events=events,
        title=f"DRILL: escalation test of {service}",
        severity=severity,
        service=row,
        group_key=f"drill:{service}:{clock.now().isoformat()}",
        source="manual",
        actor=actor,
        summary="This is a drill. Acknowledge it as you would a real page; nothing is broken.",
        labels={"drill": "true"},
        is_drill=True,
    )


def escalation_of(session: Session, *, incident: Incident) -> EscalationView | None:
    row = session.scalars(select(Escalation).where(Escalation.incident_id == incident.id)).one_or_none()
    if row is None:
        return None
    nxt = session.scalars(
        select(EscalationStep)
        .where(
            EscalationStep.escalation_id == row.id,
            EscalationStep.status == "pending",
            EscalationStep.generation == row.generation,
        )
        .order_by(EscalationStep.due_at)
        .limit(1)
    ).first()
    return EscalationView(
        state=row.state,
        policy=row.policy.get("name") if row.policy else None,
        level=row.level,
        round=row.round,
        channels=list(row.profile.get("channels", [])),
        next_step=(f"{nxt.kind} {nxt.level + 1}" if nxt.kind == "level" else nxt.kind) if nxt else None,
        next_due_at=nxt.due_at if nxt else None,
        sla_due_at=row.sla_due_at,
        sla_breached_at=row.sla_breached_at,
    )


def notifications_of(session: Session, *, incident: Incident) -> list[Notification]:
    return list(
        session.scalars(select(Notification).where(Notification.incident_id == incident.id).order_by(Notification.id))
    )


def _team(session: Session, name: str) -> Team:
    team = session.scalars(select(Team).where(Team.name == name)).one_or_none()
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team
