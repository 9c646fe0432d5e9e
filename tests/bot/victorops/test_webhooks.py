"""VictorOps outgoing webhooks mirror incidents into Herald (fixtures `victorops-outgoing/`), over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.herald import INTEGRATION_KEY, RunningHerald

HOOK = f"/api/v1/integrations/victorops-outgoing/{INTEGRATION_KEY}"


def hook(herald: RunningHerald, fixtures: Path, name: str, **changes: str) -> dict:
    body = json.loads((fixtures / "victorops-outgoing" / f"incident-{name}.json").read_text())
    body.update(changes)
    response = herald.client.post(HOOK, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_triggered_acknowledged_resolved_are_mirrored(herald: RunningHerald, fixtures_dir: Path) -> None:
    opened = hook(herald, fixtures_dir, "triggered")
    assert opened["outcome"] == "opened"
    number = opened["incident"]
    assert hook(herald, fixtures_dir, "triggered")["outcome"] == "duplicate"
    assert hook(herald, fixtures_dir, "acknowledged") == {"result": "success", "outcome": "acknowledged",
                                                          "incident": number}  # fmt: skip
    assert hook(herald, fixtures_dir, "acknowledged")["outcome"] == "duplicate"
    assert hook(herald, fixtures_dir, "resolved")["outcome"] == "resolved"
    incident = herald.client.get(f"/api/v1/incidents/{number}").json()
    assert (incident["source"], incident["external_id"], incident["severity"]) == ("victorops-mirror", "42", "P1")
    assert (incident["state"], incident["acknowledged_by"], incident["resolved_by"]) == (
        "resolved",
        "mara.lindqvist",
        "victorops",  # ack_user SYSTEM: resolved automatically by the RECOVERY alert
    )
    assert incident["service"] == "index-tts-2.0-prod"


def test_the_rest_alert_and_the_victorops_incident_are_one_incident(herald: RunningHerald, fixtures_dir: Path) -> None:
    critical = (fixtures_dir / "victorops" / "02-critical-p95-latency.json").read_bytes()
    rest = herald.client.post(f"/api/v1/integrations/victorops/{INTEGRATION_KEY}/index-tts-2.0-prod", content=critical)
    number = rest.json()["incident"]
    linked = hook(herald, fixtures_dir, "triggered")
    assert linked == {"result": "success", "outcome": "linked", "incident": number}
    assert hook(herald, fixtures_dir, "acknowledged")["incident"] == number
    assert len(herald.client.get("/api/v1/incidents").json()) == 1


def test_missed_trigger_and_unknown_resolve(herald: RunningHerald, fixtures_dir: Path) -> None:
    assert hook(herald, fixtures_dir, "resolved", incident_name="77") == {
        "result": "success",
        "outcome": "ignored",
        "incident": None,
    }
    late = hook(herald, fixtures_dir, "acknowledged", incident_name="78")
    assert late["outcome"] == "opened"
    detail = herald.client.get(f"/api/v1/incidents/{late['incident']}").json()
    assert detail["state"] == "acknowledged"
    assert detail["timeline"][0]["kind"] == "triggered"


def test_lenient_and_bad_bodies(herald: RunningHerald, fixtures_dir: Path) -> None:
    raw = (fixtures_dir / "victorops-outgoing" / "incident-triggered.json").read_text()
    unescaped = raw.replace("in namespace tts-prod.", "in namespace\ntts-prod.")  # a raw newline inside a string
    assert herald.client.post(HOOK, content=unescaped.encode()).json()["outcome"] == "opened"
    no_event = json.loads(raw)
    del no_event["herald_event"]
    assert herald.client.post(HOOK, json=no_event).json()["outcome"] == "duplicate"  # inferred from current_phase
    cases = [
        (b"{not json", 422, "not valid JSON"),
        (json.dumps({"incident_name": "1"}).encode(), 422, "herald_event"),
        (json.dumps({**no_event, "incident_name": "${{STATE.INCIDENT_NAME}}"}).encode(), 422, "incident_name"),
        (json.dumps({**no_event, "entity_id": {"a": 1}}).encode(), 422, "entity_id"),
    ]
    for body, status, fragment in cases:
        response = herald.client.post(HOOK, content=body)
        assert response.status_code == status and fragment in response.json()["reason"], response.text
    assert herald.client.post("/api/v1/integrations/victorops-outgoing/nope", json=no_event).status_code == 401
    assert len(herald.client.get("/api/v1/incidents").json()) == 1
