"""Vendor payloads → AlertEvents, checked on the published-format fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import InvalidInput
from bot.incidents.states import Severity
from bot.ingestion.event import AlertAction
from bot.ingestion.sources import alertmanager, victorops

ENTITY = "tts-inference/prod/POST /tts/synthesize/p95-latency"


def load(fixtures_dir: Path, name: str) -> dict:
    return json.loads((fixtures_dir / name).read_text())


@pytest.mark.parametrize(
    ("name", "action", "severity"),
    [
        ("01-warning-p95-latency", AlertAction.TRIGGER, Severity.P2),
        ("02-critical-p95-latency", AlertAction.TRIGGER, Severity.P1),
        ("03-info-pod-restart", AlertAction.INFO, Severity.P3),
        ("04-acknowledgement-p95-latency", AlertAction.ACKNOWLEDGE, Severity.P2),
        ("05-recovery-p95-latency", AlertAction.RESOLVE, Severity.P2),
        ("07-canary-recovery-deployment-v1.1.0", AlertAction.RESOLVE, Severity.P2),
    ],
)
def test_victorops_message_types(fixtures_dir: Path, name: str, action: AlertAction, severity: Severity) -> None:
    event = victorops.parse(load(fixtures_dir, f"victorops/{name}.json"), routing_key="index-tts-2.0-prod")
    assert (event.action, event.severity) == (action, severity)


def test_victorops_entity_is_the_dedup_key_within_the_routing_key(fixtures_dir: Path) -> None:
    warning, critical, recovery = (
        victorops.parse(load(fixtures_dir, f"victorops/{n}.json"), routing_key="index-tts-2.0-prod")
        for n in ("01-warning-p95-latency", "02-critical-p95-latency", "05-recovery-p95-latency")
    )
    assert warning.dedup_key == critical.dedup_key == recovery.dedup_key == f"index-tts-2.0-prod/{ENTITY}"
    other_key = victorops.parse(load(fixtures_dir, "victorops/02-critical-p95-latency.json"), routing_key="staging")
    assert other_key.dedup_key != critical.dedup_key
    assert critical.labels["service"] == "tts-inference" and critical.labels["hostname"] == "gpu-a100-node-03"
    assert not any(k.startswith("vo_annotate") for k in critical.labels)
    assert critical.payload["vo_annotate.s.Note"].startswith("Suspect GPU memory")
    assert critical.starts_at is not None and critical.starts_at.isoformat() == "2025-11-18T14:02:15+00:00"


def test_victorops_ack_carries_author_and_message(fixtures_dir: Path) -> None:
    ack = victorops.parse(load(fixtures_dir, "victorops/04-acknowledgement-p95-latency.json"), routing_key="k")
    assert ack.actor == "mara.lindqvist" and ack.note is not None and ack.note.startswith("On it")


def test_victorops_rules_for_unusual_bodies() -> None:
    assert victorops.parse({"message_type": "ok", "entity_id": "e"}, routing_key="k").action is AlertAction.RESOLVE
    assert victorops.parse({"message_type": "WEIRD", "entity_id": "e"}, routing_key="k").action is AlertAction.INFO
    generated = victorops.parse({"message_type": "CRITICAL"}, routing_key="k")
    assert len(generated.labels["entity_id"]) == 36  # VictorOps makes one up and returns it
    info = {"message_type": "INFO", "entity_id": "e", "state_message": "a"}
    assert victorops.parse(info, routing_key="k").dedup_key == victorops.parse(dict(info), routing_key="k").dedup_key
    assert (
        victorops.parse(info, routing_key="k").dedup_key
        != victorops.parse({**info, "state_message": "b"}, routing_key="k").dedup_key
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "message_type"),
        ({"message_type": 5}, "message_type"),
        ({"message_type": "CRITICAL", "entity_id": ["x"]}, "entity_id"),
        ({"message_type": "CRITICAL", "timestamp": "yesterday"}, "timestamp"),
        ({"message_type": "RECOVERY"}, "entity_id is required"),
        ({"message_type": "CRITICAL", "entity_id": "x" * 513}, "entity_id"),
        ([1, 2], "JSON object"),
    ],
)
def test_victorops_bad_bodies_name_the_field(body: object, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        victorops.parse(body, routing_key="k")


def test_alertmanager_group_fixture(fixtures_dir: Path) -> None:
    events = alertmanager.parse(load(fixtures_dir, "alertmanager/01-firing-p95-latency-group.json"))
    assert len(events) == 3
    assert {e.action for e in events} == {AlertAction.TRIGGER}
    assert {e.severity for e in events} == {Severity.P1}
    assert {e.routing_key for e in events} == {"tts-inference"}  # from the service label
    assert len({e.default_group for e in events}) == 1
    assert events[0].dedup_key == "a6390b38601a7a6c@2025-11-18T14:02:15.912000+00:00"
    assert events[0].incident_title == "TTSInferenceP95LatencyHigh (service=tts-inference)"
    resolved = alertmanager.parse(load(fixtures_dir, "alertmanager/02-resolved-p95-latency-group.json"))
    assert [e.dedup_key for e in resolved] == [e.dedup_key for e in events]
    assert {e.action for e in resolved} == {AlertAction.RESOLVE}


def test_alertmanager_truncation_and_routing_key_override(fixtures_dir: Path) -> None:
    events = alertmanager.parse(
        load(fixtures_dir, "alertmanager/04-firing-gpu-memory-truncated.json"), routing_key="gpu-fleet"
    )
    assert len(events) == 5 and {e.truncated for e in events} == {2}
    assert {e.routing_key for e in events} == {"gpu-fleet"}


def test_alertmanager_fingerprint_is_computed_when_missing(fixtures_dir: Path) -> None:
    body = load(fixtures_dir, "alertmanager/03-firing-pod-restarts-group.json")
    expected = [a["fingerprint"] for a in body["alerts"]]
    for alert in body["alerts"]:
        del alert["fingerprint"]
    body["routeLabels"] = {}  # Alertmanager v0.34 adds it; unknown keys must not break ingestion
    assert [e.dedup_key.split("@")[0] for e in alertmanager.parse(body)] == expected


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.pop("groupKey"), "groupKey"),
        (lambda b: b["alerts"][0].update(status="pending"), "status"),
        (lambda b: b["alerts"][0]["labels"].update(severity=2), "labels"),
        (lambda b: b["alerts"][0].update(startsAt="soon"), "startsAt"),
        (lambda b: b.update(alerts="none"), "alerts"),
    ],
)
def test_alertmanager_bad_bodies_name_the_field(fixtures_dir: Path, mutate, fragment: str) -> None:
    body = load(fixtures_dir, "alertmanager/01-firing-p95-latency-group.json")
    mutate(body)
    with pytest.raises(InvalidInput, match=fragment):
        alertmanager.parse(body)
