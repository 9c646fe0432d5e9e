"""`AlertEvent`: one alert, as any source describes it, in the shape the rest of ingestion works on.

Sources (VictorOps REST, Alertmanager) parse their payloads into these; dedup, grouping, maintenance and the ingest
service never look at a vendor format again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.incidents.states import Severity


class AlertAction(StrEnum):
    TRIGGER = "trigger"  # the alert fires (or fires again)
    RESOLVE = "resolve"  # the alert recovered
    ACKNOWLEDGE = "acknowledge"  # someone acknowledged it at the source (VictorOps ACKNOWLEDGEMENT)
    INFO = "info"  # informational: recorded on an open incident, never opens one, never pages


@dataclass(frozen=True)
class AlertEvent:
    source: str  # victorops | alertmanager
    action: AlertAction
    routing_key: str  # picks the service (unknown keys create a service named after them)
    dedup_key: str  # identity of the alert at its source; retries carry the same key
    default_group: str  # the source's own grouping (Alertmanager groupKey, VictorOps entity_id)
    severity: Severity = Severity.P2
    title: str = ""
    incident_title: str = ""  # title of the incident this alert would open (a group title for Alertmanager)
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    starts_at: datetime | None = None
    actor: str | None = None  # who acknowledged/resolved it at the source, when the source says
    note: str | None = None  # a message that goes with an acknowledgement
    truncated: int = 0  # alerts of the same group the source left out (Alertmanager max_alerts)


def bounded(text: str, limit: int) -> str:
    """`text` if it fits the column, else a prefix plus a hash of the whole, so distinct long keys stay distinct."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[: limit - 17]}#{digest}"


_SEVERITY_WORDS = {
    Severity.P1: {"critical", "crit", "page", "error", "high", "p1", "sev1", "disaster", "emergency"},
    Severity.P2: {"warning", "warn", "medium", "moderate", "p2", "sev2", "average"},
    Severity.P3: {"info", "informational", "information", "low", "none", "notice", "p3", "sev3", "ok"},
}


def severity_from_word(word: str | None, default: Severity = Severity.P2) -> Severity:
    """The severity a monitoring tool means by `word` (CRITICAL/critical → P1, WARNING → P2, INFO → P3)."""
    if not word:
        return default
    key = word.strip().lower()
    for severity, words in _SEVERITY_WORDS.items():
        if key in words:
            return severity
    return default
