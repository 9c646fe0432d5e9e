"""The VictorOps (Splunk On-Call) REST endpoint alert body → `AlertEvent`.

Herald accepts the body unchanged, so any tool that posts to VictorOps can post to Herald by changing the base URL.
The rules are VictorOps' own: `message_type` is the only required field (`OK` means RECOVERY, an unknown type is
INFO); `entity_id` ties the messages of one incident together within a routing key; any other key is a custom field,
kept as a label when it is a scalar. Unknown keys are therefore accepted here, unlike on Herald's own API.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from bot.errors import InvalidInput
from bot.incidents.states import Severity
from bot.ingestion.event import AlertAction, AlertEvent, bounded
from bot.ingestion.sources.validation import parse_model

SOURCE = "victorops"
ANNOTATION_PREFIX = "vo_annotate."

_ACTIONS = {
    "CRITICAL": (AlertAction.TRIGGER, Severity.P1),
    "WARNING": (AlertAction.TRIGGER, Severity.P2),
    "INFO": (AlertAction.INFO, Severity.P3),
    "ACKNOWLEDGEMENT": (AlertAction.ACKNOWLEDGE, Severity.P2),
    "RECOVERY": (AlertAction.RESOLVE, Severity.P2),
    "OK": (AlertAction.RESOLVE, Severity.P2),
}


class VictorOpsAlert(BaseModel):
    """The documented fields with their types and VictorOps' length limits; other keys pass through as custom."""

    model_config = ConfigDict(extra="allow")

    message_type: StrictStr = Field(min_length=1, max_length=64)
    entity_id: StrictStr | None = Field(default=None, max_length=512)
    entity_display_name: StrictStr | None = Field(default=None, max_length=1024)
    state_message: StrictStr | None = Field(default=None, max_length=20480)
    state_start_time: float | None = Field(default=None, ge=0, le=4102444800)
    timestamp: float | None = Field(default=None, ge=0, le=4102444800)
    monitoring_tool: StrictStr | None = Field(default=None, max_length=1024)
    hostname: StrictStr | None = Field(default=None, max_length=1024)
    entity_is_host: StrictBool | None = None
    ack_author: StrictStr | None = Field(default=None, max_length=1024)
    ack_msg: StrictStr | None = Field(default=None, max_length=1024)


def parse(body: Any, *, routing_key: str) -> AlertEvent:
    alert = parse_model(VictorOpsAlert, body, "VictorOps alert")
    action, severity = _ACTIONS.get(alert.message_type.strip().upper(), (AlertAction.INFO, Severity.P3))
    entity_id = alert.entity_id
    if not entity_id:
        if action in (AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE):
            raise InvalidInput(f"entity_id is required with message_type {alert.message_type}")
        entity_id = str(uuid.uuid4())  # what VictorOps does: a fresh entity, returned to the caller
    custom = alert.model_extra or {}
    labels = {key: _label(value) for key, value in custom.items() if _is_label(key, value)}
    labels["entity_id"] = entity_id
    for key in ("monitoring_tool", "hostname"):
        value = getattr(alert, key)
        if value:
            labels[key] = value
    scope = f"{routing_key}/{entity_id}"
    if action is AlertAction.INFO:
        # Each INFO is its own point event; an exact retry has the same body and so the same key.
        scope += "#info:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    title = alert.entity_display_name or entity_id
    started = alert.state_start_time or alert.timestamp
    return AlertEvent(
        source=SOURCE,
        action=action,
        routing_key=routing_key,
        dedup_key=bounded(scope, 700),
        default_group=bounded(f"vo:{routing_key}:{entity_id}", 500),
        severity=severity,
        title=title[:500],
        incident_title=title[:500],
        description=alert.state_message or "",
        labels=labels,
        payload=dict(body),
        starts_at=datetime.fromtimestamp(started, UTC) if started else None,
        actor=alert.ack_author,
        note=alert.ack_msg or (alert.state_message if action is AlertAction.ACKNOWLEDGE else None),
    )


def _is_label(key: str, value: Any) -> bool:
    return not key.startswith(ANNOTATION_PREFIX) and isinstance(value, str | int | float | bool) and len(key) <= 100


def _label(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:1024]
