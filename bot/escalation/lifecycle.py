"""Incident events → escalation state, inside the transaction that changed the incident.

- triggered: the service's policy (else `HERALD_DEFAULT_ESCALATION_POLICY`) and the team's paging profile are
  snapshotted onto a new escalation row (see `snapshot.py`), level 1 is due at once, the SLA clock starts. P3, drills
  of quiet services and paging-suppressed incidents (maintenance) are recorded only.
- acknowledged: the generation moves on (pending level steps become stale), sent pages turn `acknowledged`, and the
  ack timeout starts.
- unacknowledged (ack timeout, or handed back): the policy starts again at level 1.
- resolved: everything stops.
- severity raised: the louder profile applies from the next level on (a quiet P3 that becomes P2 starts paging).
Hooks matching the event are queued in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory.models import Service, User
from bot.errors import Conflict
from bot.escalation import hooks, snapshot, steps
from bot.escalation.models import Escalation, Notification
from bot.escalation.profile import profile_for
from bot.incidents import timeline
from bot.incidents.events import EventBus, EventKind, IncidentEvent
from bot.incidents.models import Incident
from bot.settings import Settings


@dataclass(frozen=True)
class Lifecycle:
    settings: Settings
    clock: Clock
    events: EventBus

    def on_event(self, session: Session, event: IncidentEvent) -> None:
        handler = {
            EventKind.TRIGGERED: self._triggered,
            EventKind.ACKNOWLEDGED: self._acknowledged,
            EventKind.UNACKNOWLEDGED: self._unacknowledged,
            EventKind.RESOLVED: self._resolved,
            EventKind.SEVERITY_RAISED: self._severity_raised,
        }.get(event.kind)
        hooked = event.kind.value in hooks.HOOK_EVENTS
        if handler is None and not hooked:  # e.g. alerts added: an alert storm publishes one per incident and batch
            return
        incident = session.get(Incident, event.incident_id)
        if incident is None:
            return
        if handler is not None:
            handler(session, incident, event)
        if hooked:
            hooks.fire(session, clock=self.clock, incident=incident, event=event.kind.value)

    def _triggered(self, session: Session, incident: Incident, _event: IncidentEvent) -> None:
        now = self.clock.now()
        service = session.get(Service, incident.service_id) if incident.service_id else None
        frozen = snapshot.freeze(session, incident=incident, service=service, settings=self.settings)
        escalation = Escalation(
            incident_id=incident.id,
            team_id=frozen.team_id,
            policy=frozen.policy.to_dict() if frozen.policy else {},
            profile=frozen.profile.to_dict(),
            channel=frozen.channel,
            state="active",
            started_at=now,
            updated_at=now,
        )
        session.add(escalation)
        session.flush()
        if frozen.profile.sla and not incident.is_drill:
            escalation.sla_due_at = now + frozen.profile.sla
            steps.schedule(
                session, escalation, kind="sla", due_at=escalation.sla_due_at, generation=steps.SLA_GENERATION
            )
        reason = snapshot.quiet_reason(incident, frozen)
        if reason is not None:
            escalation.state = "quiet"
            if service is not None or frozen.policy is not None:
                self._note(session, incident, "escalation_quiet", f"Nobody is paged: {reason}")
            return
        assert frozen.policy is not None
        self._note(
            session,
            incident,
            "escalation_started",
            f"Escalation policy {frozen.policy.name!r} started ({len(frozen.policy.levels)} level(s), "
            f"by {', '.join(frozen.profile.channels)})",
            {"policy": frozen.policy.name},
        )
        steps.schedule(session, escalation, kind="level", due_at=now)

    def _acknowledged(self, session: Session, incident: Incident, event: IncidentEvent) -> None:
        escalation = self._escalation(session, incident)
        if escalation is None:
            return
        now = self.clock.now()
        escalation.generation += 1
        escalation.state = "acknowledged"
        escalation.updated_at = now
        session.execute(
            update(Notification)
            .where(Notification.incident_id == incident.id, Notification.status.in_(("sent", "pending")))
            .where(Notification.user_id.in_(_actor_ids(event.actor)))
            .values(status="acknowledged", updated_at=now)
        )
        session.execute(
            update(Notification)
            .where(Notification.incident_id == incident.id, Notification.status == "pending")
            .where(Notification.kind == "page")
            .values(status="cancelled", error="acknowledged before delivery", updated_at=now)
        )
        profile = snapshot.profile_of(escalation)
        if profile.ack_timeout:
            steps.schedule(session, escalation, kind="ack_timeout", due_at=now + profile.ack_timeout)

    def _unacknowledged(self, session: Session, incident: Incident, _event: IncidentEvent) -> None:
        escalation = self._escalation(session, incident)
        if escalation is None:
            return
        escalation.generation += 1
        escalation.updated_at = self.clock.now()
        if not escalation.policy or escalation.state == "quiet":
            return
        escalation.state = "active"
        escalation.level, escalation.round = 0, 0
        steps.schedule(session, escalation, kind="level", due_at=self.clock.now())

    def _resolved(self, session: Session, incident: Incident, _event: IncidentEvent) -> None:
        escalation = self._escalation(session, incident)
        if escalation is None:
            return
        now = self.clock.now()
        escalation.generation += 1
        escalation.state = "finished"
        escalation.updated_at = now
        session.execute(
            update(Notification)
            .where(Notification.incident_id == incident.id, Notification.status == "pending")
            .where(Notification.kind.in_(("page", "ack_reminder")))
            .values(status="cancelled", error="resolved before delivery", updated_at=now)
        )

    def _severity_raised(self, session: Session, incident: Incident, _event: IncidentEvent) -> None:
        escalation = self._escalation(session, incident)
        if escalation is None:
            return
        team_settings = snapshot.team_settings(session, escalation.team_id)
        escalation.profile = profile_for(incident.severity, self.settings, team_settings).to_dict()
        if escalation.state == "quiet" and escalation.policy and incident.state == "triggered":
            escalation.generation += 1
            escalation.state = "active"
            steps.schedule(session, escalation, kind="level", due_at=self.clock.now())
            self._note(session, incident, "escalation_started", f"Severity {incident.severity}: paging starts")

    def escalate_now(self, session: Session, *, incident: Incident, actor: str, source: str) -> tuple[int, int]:
        """Jump to the next level now (after the last level: level 1 of the next round)."""
        escalation = self._escalation(session, incident)
        if incident.state != "triggered":
            raise Conflict(f"incident #{incident.number} is {incident.state}; only a triggered incident escalates")
        if escalation is None or not escalation.policy:
            raise Conflict(f"incident #{incident.number} has no escalation policy to escalate along")
        policy = snapshot.policy_of(escalation)
        position = policy.after(escalation.level, escalation.round, forced=True)
        assert position is not None
        escalation.generation += 1
        escalation.state = "active"
        escalation.updated_at = self.clock.now()
        level, round_ = position
        steps.schedule(session, escalation, kind="level", due_at=self.clock.now(), level=level, round_=round_)
        self._note(
            session,
            incident,
            "escalated",
            f"Escalated now to level {level + 1} by {actor} via {source}",
            {"level": level, "round": round_},
            actor=actor,
            source=source,
        )
        self.events.publish(
            session,
            IncidentEvent(
                kind=EventKind.ESCALATED,
                incident_id=incident.id,
                number=incident.number,
                actor=actor,
                source=source,
                data={"level": level, "manual": True},
            ),
        )
        return level, round_

    @staticmethod
    def _escalation(session: Session, incident: Incident) -> Escalation | None:
        return session.scalars(
            select(Escalation).where(Escalation.incident_id == incident.id).with_for_update()
        ).one_or_none()

    def _note(
        self,
        session: Session,
        incident: Incident,
        kind: str,
        message: str,
        data: dict[str, object] | None = None,
        *,
        actor: str = "herald",
        source: str = "engine",
        at: datetime | None = None,
    ) -> None:
        timeline.record(
            session,
            incident=incident,
            at=at or self.clock.now(),
            kind=kind,
            actor=actor,
            source=source,
            message=message,
            data=dict(data or {}),
        )


def _actor_ids(actor: str) -> object:
    """The user ids an acknowledging actor can stand for (e-mail, Slack id or name)."""
    return select(User.id).where(or_(User.email == actor, User.slack_id == actor, User.name == actor))
