"""Maintenance windows: alerts inside one are recorded but not paged (e.g. during a canary release).

Also the indexes ingestion's queries need on the incident tables (revision 0002_ingestion): "which alerts of these
incidents still fire" and "which incident has this VictorOps number".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base
from bot.incidents.models import Alert, Incident


class MaintenanceWindow(Base):
    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


Index("ix_alerts_incident_status", Alert.incident_id, Alert.status)
Index("ix_incidents_external_id", Incident.external_id)
