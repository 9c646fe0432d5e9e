"""Prometheus Alertmanager webhook (payload version 4) → one `AlertEvent` per alert.

An alert's identity is its fingerprint plus `startsAt`: Alertmanager repeats a firing alert with both unchanged, and a
new firing episode of the same label set gets a new `startsAt`. By default one Alertmanager group (`groupKey`) is one
incident. Unknown keys are ignored rather than refused, because newer Alertmanager versions add fields
(`routeLabels` in v0.34) and an alert must never be lost to a version bump.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from bot.errors import InvalidInput
from bot.incidents.states import Severity
from bot.ingestion.event import AlertAction, AlertEvent, bounded, severity_from_word
from bot.ingestion.sources.validation import parse_model

SOURCE = "alertmanager"
MAX_ALERTS = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertmanagerAlert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[StrictStr, StrictStr]
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: StrictStr = ""
    fingerprint: StrictStr | None = Field(default=None, max_length=64)


class AlertmanagerMessage(_Model):
    version: StrictStr = "4"
    groupKey: StrictStr = Field(min_length=1, max_length=10_000)
    status: Literal["firing", "resolved"]
    receiver: StrictStr = ""
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)
    groupLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    commonLabels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    commonAnnotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    externalURL: StrictStr = ""
    truncatedAlerts: int = Field(default=0, ge=0)


def parse(body: Any, *, routing_key: str | None = None) -> list[AlertEvent]:
    """Events of one webhook call. The routing key is the caller's, else the `routing_key` or `service` label."""
    message = parse_model(AlertmanagerMessage, body, "Alertmanager webhook")
    if message.version != "4":
        raise InvalidInput(f"unsupported Alertmanager webhook version {message.version!r}; Herald reads version 4")
    group_title = _group_title(message)
    events = []
    for alert in message.alerts:
        severity = severity_from_word(alert.labels.get("severity"))
        firing = alert.status == "firing"
        if not firing:
            action = AlertAction.RESOLVE
        elif severity is Severity.P3:
            action = AlertAction.INFO
        else:
            action = AlertAction.TRIGGER
        key = routing_key or alert.labels.get("routing_key") or alert.labels.get("service") or message.receiver
        fingerprint = alert.fingerprint or fingerprint_of(alert.labels)
        summary = alert.annotations.get("summary") or alert.labels.get("alertname", "alert")
        events.append(
            AlertEvent(
                source=SOURCE,
                action=action,
                routing_key=(key or SOURCE)[:200],
                dedup_key=f"{fingerprint}@{alert.startsAt.isoformat()}",
                default_group=bounded(f"am:{message.groupKey}", 500),
                severity=severity,
                title=summary[:500],
                incident_title=group_title,
                description=alert.annotations.get("description") or summary,
                labels=dict(alert.labels),
                payload={
                    **alert.model_dump(mode="json"),
                    "groupKey": message.groupKey,
                    "receiver": message.receiver,
                    "externalURL": message.externalURL,
                },
                starts_at=alert.startsAt,
                truncated=message.truncatedAlerts,
            )
        )
    return events


def _group_title(message: AlertmanagerMessage) -> str:
    """A title for the whole group: its summary if all alerts share one, else the alert name and group labels."""
    if summary := message.commonAnnotations.get("summary"):
        return summary[:500]
    name = message.groupLabels.get("alertname") or message.commonLabels.get("alertname") or "Alertmanager alert"
    rest = ", ".join(f"{k}={v}" for k, v in sorted(message.groupLabels.items()) if k != "alertname")
    return (f"{name} ({rest})" if rest else name)[:500]


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def fingerprint_of(labels: dict[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs, each followed by 0xFF).

    Alertmanager always sends it; tools that imitate Alertmanager sometimes do not, and the same labels must still
    give the same identity. Hand-written because it is six lines and no maintained Python package exports it.
    """
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return f"{value:016x}"
