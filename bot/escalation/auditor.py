"""The periodic auditor: every open incident whose escalation is running must have its next step scheduled.

A missing step would mean a page that never comes. The auditor finds escalations that should have a pending step
of their current generation (active and triggered: a `level` or `exhausted` step; acknowledged with an ack timeout:
an `ack_timeout`/`ack_expired` step) and have none, records the finding on the incident's timeline and in the log,
and repairs it by scheduling the step after the last one that fired (level 1 if none did), due now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.clock import Clock
from bot.db import transaction
from bot.escalation import snapshot, steps
from bot.escalation.models import Escalation, EscalationStep
from bot.incidents import timeline
from bot.incidents.models import Incident

log = logging.getLogger(__name__)

WATCHED = {"active": ("level", "exhausted"), "acknowledged": ("ack_timeout", "ack_expired")}


@dataclass(frozen=True)
class Finding:
    incident_number: int
    repaired: str


class Auditor:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def run(self, now: datetime | None = None) -> list[Finding]:
        now = now or self._clock.now()
        findings: list[Finding] = []
        with transaction(self._sessions) as session:
            for escalation, incident in self._suspects(session):
                repaired = self._repair(session, escalation, incident, now)
                if repaired:
                    findings.append(Finding(incident.number, repaired))
        for finding in findings:
            log.warning("auditor: incident #%s had no next step; %s", finding.incident_number, finding.repaired)
        return findings

    @staticmethod
    def _suspects(session: Session) -> list[tuple[Escalation, Incident]]:
        step = aliased(EscalationStep)
        found = []
        for state, kinds in WATCHED.items():
            pending = exists().where(
                step.escalation_id == Escalation.id,
                step.generation == Escalation.generation,
                step.status == "pending",
                step.kind.in_(kinds),
            )
            incident_state = "triggered" if state == "active" else "acknowledged"
            rows = session.execute(
                select(Escalation, Incident)
                .join(Incident, Incident.id == Escalation.incident_id)
                .where(Escalation.state == state, Incident.state == incident_state, ~pending)
                .with_for_update(of=Escalation, skip_locked=True)
            )
            found += [(e, i) for e, i in rows]
        return found

    def _repair(self, session: Session, escalation: Escalation, incident: Incident, now: datetime) -> str | None:
        if escalation.state == "acknowledged":
            if not snapshot.profile_of(escalation).ack_timeout:
                return None
            steps.schedule(session, escalation, kind="ack_timeout", due_at=now)
            repaired = "scheduled the ack-timeout reminder now"
        else:
            repaired = self._repair_level(session, escalation, now)
        timeline.record(
            session,
            incident=incident,
            at=now,
            kind="audit_repair",
            actor="herald",
            source="auditor",
            message=f"Auditor: the next escalation step was missing; {repaired}",
            data={"generation": escalation.generation},
        )
        return repaired

    @staticmethod
    def _repair_level(session: Session, escalation: Escalation, now: datetime) -> str:
        policy = snapshot.policy_of(escalation)
        last = session.scalars(
            select(EscalationStep)
            .where(
                EscalationStep.escalation_id == escalation.id,
                EscalationStep.generation == escalation.generation,
                EscalationStep.kind == "level",
                EscalationStep.status == "done",
            )
            .order_by(EscalationStep.round.desc(), EscalationStep.level.desc())
            .limit(1)
        ).first()
        if last is None:
            steps.schedule(session, escalation, kind="level", due_at=now)
            return "scheduled level 1 now"
        position = policy.after(last.level, last.round, forced=snapshot.profile_of(escalation).forced)
        if position is None:
            steps.schedule(session, escalation, kind="exhausted", due_at=now, round_=last.round)
            return "scheduled the end-of-policy notice now"
        level, round_ = position
        steps.schedule(session, escalation, kind="level", due_at=now, level=level, round_=round_)
        return f"scheduled level {level + 1} now"
