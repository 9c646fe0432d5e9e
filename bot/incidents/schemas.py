"""Pydantic shapes of incidents on the HTTP API (reads) and of the bodies the API accepts (writes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.incidents.models import Incident, TimelineEntry


class StrictBody(BaseModel):
    """Request bodies refuse unknown keys: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class IncidentCreate(StrictBody):
    title: str = Field(min_length=1, max_length=500)
    severity: str = Field(default="P2", pattern="^[Pp][123]$")
    service: str | None = None
    summary: str = Field(default="", max_length=10_000)
    labels: dict[str, str] = Field(default_factory=dict)


class ActionBody(StrictBody):
    note: str | None = Field(default=None, max_length=10_000)


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    actor: str
    source: str
    message: str
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineOut:
        return cls(
            at=entry.at,
            kind=entry.kind,
            actor=entry.actor,
            source=entry.source,
            message=entry.message,
            data=entry.data,
        )


class IncidentOut(BaseModel):
    number: int
    title: str
    summary: str
    severity: str
    state: str
    service: str | None
    source: str
    external_id: str | None
    group_key: str
    alert_count: int
    is_drill: bool
    labels: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    timeline: list[TimelineOut] | None = None

    @classmethod
    def of(cls, incident: Incident, *, with_timeline: bool = False) -> IncidentOut:
        return cls(
            number=incident.number,
            title=incident.title,
            summary=incident.summary,
            severity=incident.severity,
            state=incident.state,
            service=incident.service.name if incident.service else None,
            source=incident.source,
            external_id=incident.external_id,
            group_key=incident.group_key,
            alert_count=incident.alert_count,
            is_drill=incident.is_drill,
            labels=incident.labels,
            created_at=incident.created_at,
            acknowledged_at=incident.acknowledged_at,
            acknowledged_by=incident.acknowledged_by,
            resolved_at=incident.resolved_at,
            resolved_by=incident.resolved_by,
            timeline=[TimelineOut.of(e) for e in incident.timeline] if with_timeline else None,
        )
