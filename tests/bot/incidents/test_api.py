"""The incident HTTP API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.support.herald import RunningHerald


def test_manual_incident_lifecycle_is_recorded_on_the_timeline(herald: RunningHerald) -> None:
    created = herald.client.post("/api/v1/incidents", json={"title": "GPU memory at 100%", "severity": "p1"})
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["severity"] == "P1" and created.json()["state"] == "triggered"

    herald.clock.advance(90)
    acked = herald.client.post(f"/api/v1/incidents/{number}/acknowledge", headers={"X-Herald-Actor": "mara"})
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "mara"

    herald.clock.advance(600)
    resolved = herald.client.post(f"/api/v1/incidents/{number}/resolve", json={"note": "rolled back to v1.0.3"})
    assert resolved.json()["state"] == "resolved"

    detail = herald.client.get(f"/api/v1/incidents/{number}").json()
    kinds = [entry["kind"] for entry in detail["timeline"]]
    assert kinds == ["triggered", "acknowledged", "resolved"]
    assert "rolled back to v1.0.3" in detail["timeline"][-1]["message"]
    assert detail["timeline"][1]["at"] == "2025-11-18T14:01:30Z"


def test_numbers_are_sequential_and_filters_apply(herald: RunningHerald) -> None:
    numbers = [
        herald.client.post("/api/v1/incidents", json={"title": f"incident {i}"}).json()["number"] for i in range(3)
    ]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    herald.client.post(f"/api/v1/incidents/{numbers[1]}/resolve")
    open_numbers = [i["number"] for i in herald.client.get("/api/v1/incidents", params={"state": "open"}).json()]
    assert sorted(open_numbers) == [numbers[0], numbers[2]]
    resolved = herald.client.get("/api/v1/incidents", params={"state": "resolved"}).json()
    assert [i["number"] for i in resolved] == [numbers[1]]


def test_acting_on_a_resolved_incident_is_a_conflict(herald: RunningHerald) -> None:
    number = herald.client.post("/api/v1/incidents", json={"title": "t"}).json()["number"]
    herald.client.post(f"/api/v1/incidents/{number}/resolve")
    response = herald.client.post(f"/api/v1/incidents/{number}/acknowledge")
    assert response.status_code == 409
    assert "resolved" in response.json()["reason"]


def test_bad_requests_get_a_clear_4xx_and_change_nothing(herald: RunningHerald) -> None:
    cases = [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
        ({"json": {"title": "x", "severty": "P1"}}, 422, "severty"),
        ({"json": {"title": 5}}, 422, "title"),
        ({"json": {"title": "x", "severity": "P9"}}, 422, "severity"),
        ({"json": {"title": "x", "service": "nope"}}, 404, "nope"),
        ({"content": b"{" + b" " * (2 * 1024 * 1024) + b"}"}, 413, "larger than"),
    ]
    for kwargs, status, fragment in cases:
        response = herald.client.post("/api/v1/incidents", **kwargs)
        assert response.status_code == status, (kwargs.keys(), response.text)
        assert fragment in response.json()["reason"]
    assert herald.client.get("/api/v1/incidents").json() == []


def test_the_api_requires_the_bearer_token(herald: RunningHerald) -> None:
    anonymous = httpx.get(f"{herald.base_url}/api/v1/incidents")
    assert anonymous.status_code == 401
    wrong = httpx.get(f"{herald.base_url}/api/v1/incidents", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "HERALD_API_TOKEN" in wrong.json()["reason"]
    assert herald.client.get("/api/v1/incidents/999").status_code == 404


def test_health_and_metrics(herald: RunningHerald) -> None:
    herald.client.post("/api/v1/incidents", json={"title": "t"})
    health = httpx.get(f"{herald.base_url}/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    metrics = httpx.get(f"{herald.base_url}/metrics").text
    assert 'herald_incidents{state="triggered"} 1.0' in metrics
