"""SLA response clocks: was an incident answered (acknowledged or resolved) by its deadline, and breach counts.

The deadline is set when the incident triggers (severity → minutes, from the team's profile or `HERALD_SLA_*`) and
is a step row like any timer, so a restart never forgets it. Drills have no SLA. Breaches are stored on the
escalation row; `/metrics` reads them from the database (`herald_sla_breached_incidents`), so the figure survives
restarts and is the same on every replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.escalation.models import Escalation
from bot.incidents.models import Incident


def answered_in_time(incident: Incident, due: datetime) -> bool:
    acked = incident.acknowledged_at is not None and incident.acknowledged_at <= due
    resolved = incident.resolved_at is not None and incident.resolved_at <= due
    return acked or resolved


def breaches_by_severity(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Incident.severity, func.count())
        .join(Escalation, Escalation.incident_id == Incident.id)
        .where(Escalation.sla_breached_at.is_not(None), Incident.is_drill.is_(False))
        .group_by(Incident.severity)
    )
    return {severity: count for severity, count in rows}


class BreachCollector(Collector):
    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "herald_sla_breached_incidents",
            "Incidents whose response SLA was breached (drills excluded)",
            labels=["severity"],
        )
        counts = self._read()
        for severity in ("P1", "P2", "P3"):
            family.add_metric([severity], counts.get(severity, 0))
        yield family
