"""The recorded incident every post-mortem test reads: the fixtures' 2025-11-18 tts-inference outage, replayed.

Alertmanager's firing group (fixture 01, 3 pods) opens a P1 on tts-inference at 14:02:15.912. The real escalation
engine pages Mara (phone and Slack DM); her phone does not answer (the voice channel refuses the call), so at 14:07
level 2 pages Bob and the 5-minute P1 SLA is breached. Bob acknowledges from Slack at 14:08:00, adds two notes, and
Alertmanager's resolved group (fixture 02) resolves the incident at 14:31:05.912. Pages go through real `Channel`s
that record what they were asked to send (B2's escalation harness).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.incidents import service as incidents
from bot.ingestion.sources import alertmanager
from bot.ingestion.views import INGESTOR
from bot.notify.channels import DeliveryError
from tests.scenarios.escalation_harness import Scenario

CONFIG = """
users:
  - {email: mara@example.com, name: Mara Lindqvist, slack_id: UMARA, phone: "+15550123"}
  - {email: bob@example.com, name: Bob Okafor, slack_id: UBOB}
teams:
  - name: mlops
    slack_channel: "#inc-tts-prod"
    members: [mara@example.com, bob@example.com]
escalation_policy:
  name: TTS Production On-Call
  rules:
    - {level: 1, user: mara@example.com, wait: 5m}
    - {level: 2, user: bob@example.com, wait: 10m}
services:
  - name: tts-inference
    team: mlops
    slack_channel: "#inc-tts-prod"
    routing_keys: [tts-inference]
    escalation_policy: TTS Production On-Call
"""
FIRED = datetime(2025, 11, 18, 14, 2, 15, 912000, tzinfo=UTC)
ACKED = datetime(2025, 11, 18, 14, 8, tzinfo=UTC)
RESOLVED = datetime(2025, 11, 18, 14, 31, 5, 912000, tzinfo=UTC)
TITLE = "TTSInferenceP95LatencyHigh"


@dataclass
class Recorded:
    scenario: Scenario
    number: int
    database_url: str


def record_outage(database_url: str, fixtures_dir: Path) -> Recorded:
    scenario = Scenario(database_url, CONFIG, start=FIRED - timedelta(minutes=5), ack_timeout_minutes=0)
    ingestor = scenario.runtime.extras[INGESTOR]
    scenario.channels["voice"].failures.append(DeliveryError("no-answer", permanent=True))
    scenario.clock.set(FIRED)
    firing = json.loads((fixtures_dir / "alertmanager/01-firing-p95-latency-group.json").read_text())
    (number,) = {r.incident_number for r in ingestor.commit(alertmanager.parse(firing))}
    scenario.run()
    scenario.advance(5)  # 14:07:15.912: level 2 pages Bob; the SLA deadline passes
    scenario.clock.set(ACKED)
    _slack(scenario, number, "acknowledge")
    for minutes, text in ((2, "Rolling back tts-inference to v1.0.3"), (10, "p95 back to 0.61 s after the rollback")):
        scenario.clock.advance(timedelta(minutes=minutes))
        _slack(scenario, number, "add_note", text=text)
    scenario.clock.set(RESOLVED)
    resolved = json.loads((fixtures_dir / "alertmanager/02-resolved-p95-latency-group.json").read_text())
    ingestor.commit(alertmanager.parse(resolved))
    scenario.run()
    ingestor.stop()
    return Recorded(scenario=scenario, number=number, database_url=database_url)


def _slack(scenario: Scenario, number: int, action: str, **kwargs: str) -> None:
    """What Bob's Slack command does: the incident service, as Bob, from Slack."""
    with scenario.runtime.transaction() as session:
        incident = incidents.get(session, number=number, for_update=True)
        getattr(incidents, action)(
            session,
            clock=scenario.clock,
            events=scenario.runtime.events,
            incident=incident,
            actor="Bob Okafor",
            source="slack",
            **kwargs,
        )
    scenario.run()


@pytest.fixture
def recorded(database_url: str, fixtures_dir: Path) -> Iterator[Recorded]:
    found = record_outage(database_url, fixtures_dir)
    yield found
    found.scenario.close()


@pytest.fixture
def recorded_sqlite(sqlite_url: str, fixtures_dir: Path) -> Iterator[Recorded]:
    """The same outage on SQLite only, for tests whose subject is the rendering, not the database."""
    found = record_outage(sqlite_url, fixtures_dir)
    yield found
    found.scenario.close()
