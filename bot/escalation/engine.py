"""The escalation engine: `tick(now)` fires every step that is due, exactly once, from database state alone.

Each batch is one transaction: it claims due steps with `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL; on SQLite,
a single-process deployment, `BEGIN IMMEDIATE` serialises writers), then for each step locks its incident and
escalation rows (always in that order, the same order the API's acknowledge takes, so the two never deadlock),
writes the step's consequences (notification rows, outbox messages, timeline entries, the next step) and marks it
done. A crash before commit leaves the step pending for the next tick, here or on another replica; after commit it
is done for good. Nothing is kept in memory between ticks, so a restart loses no timer (GoAlert's engine shape).

Steps whose generation is stale (the incident was acknowledged, resolved or escalated since) are cancelled when they
come due, with their reason in `note`.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.clock import Clock
from bot.db import transaction
from bot.directory.models import User
from bot.escalation import hooks, messages, recipients, sla, snapshot, steps
from bot.escalation.models import Escalation, EscalationStep
from bot.escalation.notifier import Notifier
from bot.incidents import service as incidents
from bot.incidents import timeline
from bot.incidents.events import EventBus, EventKind, IncidentEvent
from bot.incidents.models import Incident
from bot.notify.channels import ChannelName

log = logging.getLogger(__name__)

BreachCallback = Callable[[str], None]


@dataclass
class EngineConfig:
    ack_reminder_grace_minutes: int = 5
    batch: int = 100


class EscalationEngine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        events: EventBus,
        notifier: Notifier,
        config: EngineConfig,
        *,
        on_breach: BreachCallback | None = None,
        on_fired: Callable[[float], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._events = events
        self._notifier = notifier
        self._config = config
        self._on_breach = on_breach
        self._on_fired = on_fired
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def tick(self, now: datetime | None = None, *, max_batches: int | None = None) -> int:
        """Fire everything due at `now` (default: the clock), including steps that firing makes due; returns count.

        `max_batches` bounds the work of one call (the runner uses 1 and calls again, so other writers get the
        SQLite write lock between batches).
        """
        fired = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            batch = self._run_batch(now or self._clock.now())
            fired += batch
            batches += 1
            if batch < self._config.batch:
                break
        return fired

    def next_due(self) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(select(func.min(EscalationStep.due_at)).where(EscalationStep.status == "pending"))

    def _run_batch(self, now: datetime) -> int:
        with transaction(self._sessions) as session:
            due = list(
                session.scalars(
                    select(EscalationStep)
                    .where(EscalationStep.status == "pending", EscalationStep.due_at <= now)
                    .order_by(EscalationStep.due_at, EscalationStep.id)
                    .limit(self._config.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            for step in due:
                try:
                    with session.begin_nested():
                        self._fire(session, step, now)
                except Exception as exc:  # one bad step must not stall every other incident
                    log.exception("escalation step %s failed", step.id)
                    step.status, step.note, step.fired_at = "failed", f"{type(exc).__name__}: {exc}", now
            return len(due)

    def _fire(self, session: Session, step: EscalationStep, now: datetime) -> None:
        incident = session.scalars(
            select(Incident)
            .where(Incident.id == step.incident_id)
            .options(selectinload(Incident.service))
            .with_for_update()
        ).one()
        escalation = session.scalars(
            select(Escalation).where(Escalation.id == step.escalation_id).with_for_update()
        ).one()
        step.fired_at, step.fired_by = now, self.worker
        if step.generation != steps.SLA_GENERATION and step.generation != escalation.generation:
            step.status, step.note = "cancelled", "superseded (acknowledged, resolved or escalated since)"
            return
        handler = {
            "level": self._level,
            "exhausted": self._exhausted,
            "ack_timeout": self._ack_timeout,
            "ack_expired": self._ack_expired,
            "sla": self._sla,
        }[step.kind]
        step.status = "done"
        handler(session, step, incident, escalation, now)
        if self._on_fired is not None:
            self._on_fired((now - step.due_at).total_seconds())

    def _level(
        self, session: Session, step: EscalationStep, incident: Incident, esc: Escalation, now: datetime
    ) -> None:
        if incident.state != "triggered":
            step.status, step.note = "cancelled", f"incident is {incident.state}"
            return
        policy, profile = snapshot.policy_of(esc), snapshot.profile_of(esc)
        level = policy.levels[step.level]
        esc.level, esc.round, esc.state, esc.updated_at = step.level, step.round, "active", now
        found = recipients.resolve(session, level.targets, now)
        channels = level.channels or profile.channels
        subject, body = messages.page(incident, level=step.level, round_=step.round)
        reached: list[str] = []
        for user in found.people:
            personal = self._notifier.personal_channels(user, channels)
            if not personal:
                found.problems.append(f"{user.name} has no contact method for {', '.join(channels)}")
                continue
            for channel in personal:
                self._notifier.to_person(
                    session,
                    user=user,
                    channel=channel,
                    kind="page",
                    key=f"step:{step.id}:{user.id}:{channel}",
                    subject=subject,
                    body=body,
                    incident=incident,
                    level=step.level,
                    round_=step.round,
                    step_id=step.id,
                )
            reached.append(user.name)
        posts = list(found.channels)
        if ChannelName.SLACK_CHANNEL.value in channels and esc.channel not in posts:
            posts.append(esc.channel)
        post_subject, post_body = messages.channel_post(incident, level=step.level)
        for index, slack_channel in enumerate(posts):
            self._notifier.to_channel(
                session,
                slack_channel=slack_channel,
                kind="page",
                key=f"step:{step.id}:channel:{index}",
                subject=post_subject,
                body=post_body,
                incident=incident,
                level=step.level,
                round_=step.round,
                step_id=step.id,
            )
        if level.hook:
            hooks.fire(session, clock=self._clock, incident=incident, event="escalated", only=level.hook)
        nobody = not reached and not found.channels and not level.hook
        self._record(
            session,
            incident,
            "escalation_level",
            f"Escalation level {step.level + 1}"
            + (f" (repeat {step.round})" if step.round else "")
            + (f": notified {', '.join(reached)}" if reached else "")
            + (f"; {'; '.join(found.problems)}" if found.problems else ""),
            {"level": step.level, "round": step.round, "reached": reached, "problems": found.problems},
        )
        if nobody:
            warning = messages.nobody(incident, level=step.level, problems=found.problems)
            self._warn(session, incident, esc, step, *warning)
        if step.level or step.round:
            self._events.publish(
                session,
                IncidentEvent(
                    kind=EventKind.ESCALATED,
                    incident_id=incident.id,
                    number=incident.number,
                    actor="herald",
                    source="engine",
                    data={"level": step.level, "round": step.round},
                ),
            )
        position = policy.after(step.level, step.round, forced=profile.forced)
        if position is None:
            steps.schedule(session, esc, kind="exhausted", due_at=now + level.wait, round_=step.round)
            return
        next_level, next_round = position
        wraps = next_round != step.round
        due = now if nobody and not wraps else now + level.wait
        steps.schedule(session, esc, kind="level", due_at=due, level=next_level, round_=next_round)

    def _exhausted(
        self, session: Session, step: EscalationStep, incident: Incident, esc: Escalation, now: datetime
    ) -> None:
        if incident.state != "triggered":
            step.status, step.note = "cancelled", f"incident is {incident.state}"
            return
        esc.state, esc.updated_at = "exhausted", now
        subject, body = messages.exhausted(incident)
        self._record(session, incident, "escalation_exhausted", body, {})
        self._warn(session, incident, esc, step, subject, body)

    def _ack_timeout(
        self, session: Session, step: EscalationStep, incident: Incident, esc: Escalation, now: datetime
    ) -> None:
        if incident.state != "acknowledged" or incident.acknowledged_at is None:
            step.status, step.note = "cancelled", f"incident is {incident.state}"
            return
        grace = self._config.ack_reminder_grace_minutes
        subject, body = messages.ack_reminder(incident, since=incident.acknowledged_at, grace_minutes=grace)
        acknowledger = _user_for_actor(session, incident.acknowledged_by or "")
        channels = snapshot.profile_of(esc).channels or (ChannelName.SLACK_DM.value, ChannelName.EMAIL.value)
        sent = False
        if acknowledger is not None:
            for channel in self._notifier.personal_channels(acknowledger, channels):
                sent |= (
                    self._notifier.to_person(
                        session,
                        user=acknowledger,
                        channel=channel,
                        kind="ack_reminder",
                        key=f"step:{step.id}:{acknowledger.id}:{channel}",
                        subject=subject,
                        body=body,
                        incident=incident,
                        step_id=step.id,
                    )
                    is not None
                )
        if not sent:
            self._warn(session, incident, esc, step, subject, body.replace("You acknowledged", "It was acknowledged"))
        self._record(
            session,
            incident,
            "ack_timeout",
            f"Acknowledged {_minutes(now - incident.acknowledged_at)} min ago by {incident.acknowledged_by} and "
            f"still open: reminder sent; back to triggered in {grace} min unless resolved",
            {},
        )
        steps.schedule(session, esc, kind="ack_expired", due_at=now + timedelta(minutes=grace))

    def _ack_expired(
        self, session: Session, step: EscalationStep, incident: Incident, esc: Escalation, now: datetime
    ) -> None:
        if incident.state != "acknowledged":
            step.status, step.note = "cancelled", f"incident is {incident.state}"
            return
        incidents.unacknowledge(
            session,
            clock=self._clock,
            events=self._events,
            incident=incident,
            actor="herald",
            source="engine",
            reason=f"acknowledged by {incident.acknowledged_by} but not resolved within the ack timeout",
        )

    def _sla(self, session: Session, step: EscalationStep, incident: Incident, esc: Escalation, now: datetime) -> None:
        due = step.due_at
        if sla.answered_in_time(incident, due) or incident.is_drill:
            step.note = "met"
            return
        esc.sla_breached_at = now
        minutes = _minutes(due - esc.started_at)
        self._record(
            session,
            incident,
            "sla_breached",
            f"SLA breached: {incident.severity} not acknowledged within {minutes} min",
            {"severity": incident.severity, "due_at": due.isoformat()},
        )
        if self._on_breach is not None:
            self._on_breach(incident.severity)

    def _warn(
        self,
        session: Session,
        incident: Incident,
        esc: Escalation,
        step: EscalationStep,
        subject: str,
        body: str,
    ) -> None:
        self._notifier.to_channel(
            session,
            slack_channel=esc.channel,
            kind="warning",
            key=f"step:{step.id}:warning",
            subject=subject,
            body=body,
            incident=incident,
            level=step.level,
            round_=step.round,
            step_id=step.id,
        )

    def _record(self, session: Session, incident: Incident, kind: str, message: str, data: dict[str, object]) -> None:
        timeline.record(
            session,
            incident=incident,
            at=self._clock.now(),
            kind=kind,
            actor="herald",
            source="engine",
            message=message,
            data=dict(data),
        )


def _user_for_actor(session: Session, actor: str) -> User | None:
    return session.scalars(
        select(User).where((User.email == actor) | (User.slack_id == actor) | (User.name == actor))
    ).first()


def _minutes(delta: timedelta) -> int:
    return round(delta.total_seconds() / 60)
