"""Two-way sync through the outbox against a fake VictorOps API over real HTTP: outages retried, no echo loops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.victorops import API_ID, API_KEY, FakeVictorOps, running_victorops
from tests.support.herald import INTEGRATION_KEY, RunningHerald, make_settings, running_herald

HOOK = f"/api/v1/integrations/victorops-outgoing/{INTEGRATION_KEY}"
VO = f"/api/v1/integrations/victorops/{INTEGRATION_KEY}"


@pytest.fixture
def fake() -> Iterator[FakeVictorOps]:
    with running_victorops() as fake:
        yield fake


@pytest.fixture
def synced(database_url: str, tmp_path: Path, fake: FakeVictorOps) -> Iterator[RunningHerald]:
    settings = make_settings(
        database_url,
        data_dir=tmp_path,
        victorops_api_id=API_ID,
        victorops_api_key=API_KEY,
        victorops_api_url=fake.base_url,
        victorops_user="herald-bot",
    )
    with running_herald(settings) as herald:
        yield herald


def mirror_42(herald: RunningHerald, fake: FakeVictorOps, fixtures: Path) -> int:
    fake.add_incident("42", entity_id="tts-inference/prod/POST /tts/synthesize/p95-latency", routing_key="rk")
    body = (fixtures / "victorops-outgoing" / "incident-triggered.json").read_bytes()
    return herald.client.post(HOOK, content=body).json()["incident"]


def kinds(herald: RunningHerald, number: int) -> list[str]:
    return [e["kind"] for e in herald.client.get(f"/api/v1/incidents/{number}").json()["timeline"]]


def test_ack_and_resolve_in_herald_reach_victorops_through_an_outage(
    synced: RunningHerald, fake: FakeVictorOps, fixtures_dir: Path
) -> None:
    number = mirror_42(synced, fake, fixtures_dir)
    fake.fail_next = 2  # VictorOps is down for the first two attempts
    synced.client.post(f"/api/v1/incidents/{number}/acknowledge", headers={"X-Herald-Actor": "mara"})
    synced.run_outbox()
    synced.clock.advance(1)
    synced.run_outbox()
    assert fake.incidents["42"]["currentPhase"] == "UNACKED"
    synced.clock.advance(2)
    synced.run_outbox()
    assert fake.incidents["42"]["currentPhase"] == "ACKED"
    assert fake.incidents["42"]["transitions"] == [{"name": "ACKED", "by": "herald-bot"}]
    assert kinds(synced, number).count("delivery_retry") == 2 and "victorops_synced" in kinds(synced, number)

    # VictorOps echoes the change as an outgoing webhook: Herald already has it, nothing goes back.
    [echo] = fake.outgoing
    assert synced.client.post(HOOK, json=echo).json()["outcome"] == "duplicate"
    synced.clock.advance(60)
    synced.run_outbox()
    assert fake.actions() == [("ack", ["42"])] * 3

    synced.client.post(f"/api/v1/incidents/{number}/resolve", json={"note": "rolled back to v1.0.3"})
    synced.run_outbox()
    assert fake.incidents["42"]["currentPhase"] == "RESOLVED"
    assert "rolled back to v1.0.3" in fake.requests[-1].body["message"]


def test_changes_that_come_from_victorops_are_not_sent_back(
    synced: RunningHerald, fake: FakeVictorOps, fixtures_dir: Path
) -> None:
    number = mirror_42(synced, fake, fixtures_dir)
    ack = json.loads((fixtures_dir / "victorops-outgoing" / "incident-acknowledged.json").read_text())
    assert synced.client.post(HOOK, json=ack).json()["outcome"] == "acknowledged"
    synced.clock.advance(60)
    assert synced.run_outbox() == 0
    assert fake.actions() == []
    assert synced.client.get(f"/api/v1/incidents/{number}").json()["state"] == "acknowledged"


def test_a_rest_ingested_incident_is_found_in_victorops_by_entity(
    synced: RunningHerald, fake: FakeVictorOps, fixtures_dir: Path
) -> None:
    fake.add_incident("51", entity_id="disk/full", routing_key="db")
    alert = synced.client.post(f"{VO}/db", json={"message_type": "CRITICAL", "entity_id": "disk/full"}).json()
    other = synced.client.post(f"{VO}/db", json={"message_type": "CRITICAL", "entity_id": "not-in-vo"}).json()
    manual = synced.client.post("/api/v1/incidents", json={"title": "manual"}).json()
    for number in (alert["incident"], other["incident"], manual["number"]):
        synced.client.post(f"/api/v1/incidents/{number}/acknowledge")
    synced.run_outbox()
    assert fake.incidents["51"]["currentPhase"] == "ACKED"
    assert fake.actions() == [("ack", ["51"])]
    assert (
        "VictorOps has no open incident for not-in-vo"
        in (synced.client.get(f"/api/v1/incidents/{other['incident']}").json()["timeline"][-1]["message"])
    )


def test_refused_credentials_give_up_and_say_so(
    database_url: str, tmp_path: Path, fake: FakeVictorOps, fixtures_dir: Path
) -> None:
    settings = make_settings(
        database_url,
        data_dir=tmp_path,
        victorops_api_id=API_ID,
        victorops_api_key="revoked",
        victorops_api_url=fake.base_url,
    )
    with running_herald(settings) as herald:
        number = mirror_42(herald, fake, fixtures_dir)
        herald.client.post(f"/api/v1/incidents/{number}/resolve")
        herald.run_outbox()
        last = herald.client.get(f"/api/v1/incidents/{number}").json()["timeline"][-1]
    assert last["kind"] == "delivery_failed" and "HTTP 401" in last["message"]
    assert fake.incidents["42"]["currentPhase"] == "UNACKED"


def test_health_says_whether_sync_is_configured(herald: RunningHerald, synced: RunningHerald) -> None:
    assert "not configured" in herald.client.get("/healthz").json()["components"]["victorops_sync"]
    assert "enabled as herald-bot" in synced.client.get("/healthz").json()["components"]["victorops_sync"]
