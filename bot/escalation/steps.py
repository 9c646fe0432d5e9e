"""Scheduling a due step: an idempotent insert (the `key` makes a racing replica or the auditor a no-op)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.db import insert_or_ignore
from bot.escalation.models import Escalation, EscalationStep

SLA_GENERATION = -1  # SLA clocks run whatever happens to the escalation


def step_key(escalation: Escalation, kind: str, level: int, round_: int, generation: int) -> str:
    return f"{escalation.id}:{generation}:{kind}:{round_}:{level}"


def schedule(
    session: Session,
    escalation: Escalation,
    *,
    kind: str,
    due_at: datetime,
    level: int = 0,
    round_: int = 0,
    generation: int | None = None,
) -> None:
    generation = escalation.generation if generation is None else generation
    values = {
        "key": step_key(escalation, kind, level, round_, generation),
        "escalation_id": escalation.id,
        "incident_id": escalation.incident_id,
        "kind": kind,
        "level": level,
        "round": round_,
        "generation": generation,
        "due_at": due_at,
        "status": "pending",
    }
    insert_or_ignore(session, EscalationStep, values)
