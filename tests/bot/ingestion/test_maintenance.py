"""The maintenance-window API: a CI/CD pipeline opens a window, its alerts are recorded but not paged, it closes."""

from __future__ import annotations

from pathlib import Path

from tests.support.herald import INTEGRATION_KEY, RunningHerald

VO = f"/api/v1/integrations/victorops/{INTEGRATION_KEY}"


def test_canary_release_window(herald: RunningHerald, fixtures_dir: Path) -> None:
    client = herald.client
    assert client.post("/api/v1/services", json={"name": "tts-staging", "routing_keys": ["index-tts-2.0-staging"]})
    opened = client.post(
        "/api/v1/maintenance",
        json={"service": "index-tts-2.0-staging", "reason": "canary v1.1.0", "duration_minutes": 45},
        headers={"X-Herald-Actor": "ci-pipeline"},
    )
    assert opened.status_code == 201, opened.text
    window = opened.json()
    assert (window["service"], window["active"], window["created_by"]) == ("tts-staging", True, "ci-pipeline")

    canary = (fixtures_dir / "victorops" / "06-canary-warning-deployment-v1.1.0.json").read_bytes()
    result = client.post(f"{VO}/index-tts-2.0-staging", content=canary).json()
    assert result["outcome"] == "maintenance"
    incident = client.get(f"/api/v1/incidents/{result['incident']}").json()
    assert "not paged" in incident["timeline"][-1]["message"]

    assert [w["id"] for w in client.get("/api/v1/maintenance").json()] == [window["id"]]
    closed = client.delete("/api/v1/maintenance", params={"service": "tts-staging"})
    assert [w["active"] for w in closed.json()] == [False]
    assert client.get("/api/v1/maintenance").json() == []
    later = {"message_type": "CRITICAL", "entity_id": "after-canary"}
    assert client.post(f"{VO}/index-tts-2.0-staging", json=later).json()["outcome"] == "opened"


def test_window_by_id_scheduled_and_global(herald: RunningHerald) -> None:
    client = herald.client
    future = client.post(
        "/api/v1/maintenance",
        json={"reason": "db failover", "starts_at": "2025-11-18T15:00:00Z", "ends_at": "2025-11-18T16:00:00Z"},
    ).json()
    assert future["service"] is None and future["active"] is False
    assert client.post(f"{VO}/any", json={"message_type": "CRITICAL", "entity_id": "e"}).json()["outcome"] == "opened"
    herald.clock.advance(3600)
    assert client.get("/api/v1/maintenance").json()[0]["active"] is True
    assert client.post(f"{VO}/any", json={"message_type": "CRITICAL", "entity_id": "f"}).json()["outcome"] == (
        "maintenance"
    )
    assert client.delete(f"/api/v1/maintenance/{future['id']}").json()["active"] is False
    assert client.delete("/api/v1/maintenance/999").status_code == 404


def test_bad_window_requests(herald: RunningHerald) -> None:
    cases = [
        ({"reason": "x", "duration_minutes": 10, "ends_at": "2025-11-18T15:00:00Z"}, 422, "not both"),
        ({"reason": "x", "service": "nope"}, 404, "nope"),
        ({"reason": "x", "duration": 10}, 422, "duration"),
        ({"reason": ""}, 422, "reason"),
        ({"reason": "x", "ends_at": "2025-11-18T13:00:00Z"}, 422, "more than zero"),
        ({"reason": "x", "starts_at": "2025-11-18T15:00:00"}, 422, "time zone"),
        ({"reason": "x", "duration_minutes": 0}, 422, "duration_minutes"),
    ]
    for body, status, fragment in cases:
        response = herald.client.post("/api/v1/maintenance", json=body)
        assert response.status_code == status, (body, response.text)
        assert fragment in response.json()["reason"], response.text
    assert herald.client.delete("/api/v1/maintenance").status_code == 422
    assert herald.client.get("/api/v1/maintenance").json() == []
