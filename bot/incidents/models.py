"""Incident, alert and timeline tables.

The timeline is append-only: every state change, alert, notification, note and Slack/phone action is one row with
its actor and source, which is what the post-mortem and the web console read back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base
from bot.directory.models import Service, User


class Counter(Base):
    """Named counters; incident numbers come from the `incident` row, incremented under its row lock."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_open_group", "service_id", "group_key", "state"),
        Index("ix_incidents_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(2))  # P1 | P2 | P3
    state: Mapped[str] = mapped_column(String(16))  # triggered | acknowledged | resolved
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    group_key: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(32))  # victorops | alertmanager | victorops-mirror | manual
    external_id: Mapped[str | None] = mapped_column(String(100))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert_count: Mapped[int] = mapped_column(default=0)
    is_drill: Mapped[bool] = mapped_column(default=False)
    paging_suppressed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_by: Mapped[str | None] = mapped_column(String(200))

    service: Mapped[Service | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    alerts: Mapped[list[Alert]] = relationship(back_populates="incident", order_by="Alert.id")
    timeline: Mapped[list[TimelineEntry]] = relationship(back_populates="incident", order_by="TimelineEntry.id")


class Alert(Base):
    """One alert as a source sees it; repeated deliveries update it rather than adding rows."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("source", "dedup_key", name="uq_alerts_source_dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(700))
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    severity: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    in_maintenance: Mapped[bool] = mapped_column(default=False)
    deliveries: Mapped[int] = mapped_column(default=1)
    starts_at: Mapped[datetime]
    first_received_at: Mapped[datetime]
    last_received_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    incident: Mapped[Incident | None] = relationship(back_populates="alerts")


class TimelineEntry(Base):
    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))  # api | slack | phone | web | victorops | alertmanager | engine
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    incident: Mapped[Incident] = relationship(back_populates="timeline")
