"""Escalation tables: policies, the per-incident escalation with its frozen snapshot, due steps, notifications, hooks.

`escalation_steps` is the truth about timers: every due step is a row (`pending` until the engine fires it in the
same transaction that writes its consequences). A step carries the escalation's `generation` at the time it was
scheduled; acknowledging, un-acknowledging, resolving or escalating bumps the generation, so older steps are
cancelled when they come due instead of being hunted down (no lock on step rows from the API side, hence no
deadlock with the engine). The `key` column makes scheduling idempotent: the auditor and a replica racing to
schedule the same step insert one row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)  # PolicyIn, as written (normalised JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ServicePolicy(Base):
    """Which policy pages for a service (one per service)."""

    __tablename__ = "service_policies"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id", ondelete="CASCADE"))


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)  # Policy.to_dict() at trigger; {} = none
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)  # PagingProfile at trigger
    channel: Mapped[str] = mapped_column(String(80))  # where channel posts and warnings go
    state: Mapped[str] = mapped_column(String(16))  # active | acknowledged | exhausted | quiet | finished
    generation: Mapped[int] = mapped_column(default=0)
    level: Mapped[int] = mapped_column(default=0)
    round: Mapped[int] = mapped_column(default=0)
    sla_due_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EscalationStep(Base):
    __tablename__ = "escalation_steps"
    __table_args__ = (Index("ix_escalation_steps_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # level | ack_timeout | ack_expired | sla
    level: Mapped[int] = mapped_column(default=0)
    round: Mapped[int] = mapped_column(default=0)
    generation: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | done | cancelled | failed
    fired_at: Mapped[datetime | None]
    fired_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class Notification(Base):
    """One attempt to tell one person (or channel) about one thing through one channel."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_incident", "incident_id", "id"),
        Index("ix_notifications_throttle", "user_id", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_steps.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # page | warning | ack_reminder | shift_reminder | digest
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(320))  # who, for people: name or channel
    address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    level: Mapped[int | None]
    round: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed|acknowledged|cancelled
    error: Mapped[str | None] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(default=0)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    fallback_of: Mapped[int | None]
    is_drill: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class AutomationHook(Base):
    """A rule: incidents whose labels match and events of the listed kinds are POSTed, signed, to `url`."""

    __tablename__ = "automation_hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[Any]] = mapped_column(default=list)
    match: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
