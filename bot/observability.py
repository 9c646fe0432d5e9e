"""Prometheus metrics and logging.

Metrics live in a registry per app (not the process-global one), so two apps in one test process never collide.
Incidents by state are read from the database at scrape time: the database is the truth, not a counter that a
restart resets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self, incidents_by_state: Callable[[], Mapping[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.alerts_received = Counter(
            "herald_alerts_received",
            "Alerts received, by source and outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.ingest_latency = Histogram(
            "herald_ingest_latency_seconds",
            "Time from receiving an alert payload to its durable commit",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "herald_sla_breaches",
            "Incidents that breached their response SLA",
            ["severity"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "herald_notifications",
            "Notification attempts by channel and status",
            ["channel", "status"],
            registry=self.registry,
        )
        self.registry.register(_IncidentStateCollector(incidents_by_state))


class _IncidentStateCollector(Collector):
    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("herald_incidents", "Incidents by state", labels=["state"])
        counts = self._read()
        for state in ("triggered", "acknowledged", "resolved"):
            family.add_metric([state], counts.get(state, 0))
        yield family


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
