"""The escalation HTTP API over real HTTP: the issue's policy format, a service's policy, escalate-now, drills."""

from __future__ import annotations

from bot.config_apply import apply
from tests.scenarios.escalation_harness import TEAM_CONFIG
from tests.support.herald import RunningHerald

ISSUE_POLICY = {
    "escalation_policy": {
        "name": "TTS Production On-Call",
        "rules": [
            {"level": 1, "user": "alice@company.com", "wait": "5m"},
            {"level": 2, "user": "bob@company.com", "wait": "10m"},
            {"level": 3, "team": "sre-oncall@company.com"},
        ],
    }
}


def test_policy_service_escalate_now_and_notifications(herald: RunningHerald) -> None:
    with herald.runtime.transaction() as session:
        apply(session, clock=herald.clock, text=TEAM_CONFIG.split("escalation_policy:")[0])
    put = herald.client.put("/api/v1/escalation-policies/TTS Production On-Call", json=ISSUE_POLICY)
    assert put.status_code == 200 and put.json()["changed"] is True
    herald.client.post("/api/v1/services", json={"name": "tts-inference"})
    assigned = herald.client.put(
        "/api/v1/services/tts-inference/escalation-policy", json={"policy": "TTS Production On-Call"}
    )
    assert assigned.status_code == 200 and assigned.json()["changed"] is True

    number = herald.client.post(
        "/api/v1/incidents", json={"title": "p95 > 1.2 s", "severity": "P1", "service": "tts-inference"}
    ).json()["number"]
    herald.runtime.extras["escalation"].engine.tick(herald.clock.now())
    view = herald.client.get(f"/api/v1/incidents/{number}/escalation").json()
    assert view["escalation"]["policy"] == "TTS Production On-Call" and view["escalation"]["next_step"] == "level 2"
    assert {(n["channel"], n["target"], n["status"]) for n in view["notifications"]} == {
        ("voice", "Alice", "pending"),
        ("slack_dm", "Alice", "pending"),
    }

    escalated = herald.client.post(f"/api/v1/incidents/{number}/escalate", headers={"X-Herald-Actor": "alice"})
    assert escalated.json() == {"number": number, "level": 2, "round": 0}
    herald.runtime.extras["escalation"].engine.tick(herald.clock.now())
    targets = {n["target"] for n in herald.client.get(f"/api/v1/incidents/{number}/escalation").json()["notifications"]}
    assert "Bob" in targets

    herald.client.post(f"/api/v1/incidents/{number}/resolve")
    refused = herald.client.post(f"/api/v1/incidents/{number}/escalate")
    assert refused.status_code == 409 and "resolved" in refused.json()["reason"]

    drill = herald.client.post("/api/v1/drills", json={"service": "tts-inference"})
    assert drill.status_code == 201 and drill.json()["is_drill"] is True


def test_bad_policies_are_refused_with_a_reason(herald: RunningHerald) -> None:
    bad = {"name": "p", "rules": [{"level": 1, "user": "a@b.c", "wait": "soon"}]}
    response = herald.client.put("/api/v1/escalation-policies/p", json=bad)
    assert response.status_code == 422 and "duration" in response.json()["reason"]
    empty = herald.client.put("/api/v1/escalation-policies/p", json={"name": "p", "rules": [{"level": 1}]})
    assert empty.status_code == 422 and "needs a target" in empty.json()["reason"]
    assert herald.client.put("/api/v1/services/nope/escalation-policy", json={"policy": None}).status_code == 404
