"""The services API: create services with routing keys, move a key from an auto-created service, refuse conflicts."""

from __future__ import annotations

from tests.support.herald import INTEGRATION_KEY, RunningHerald

VO = f"/api/v1/integrations/victorops/{INTEGRATION_KEY}"


def test_services_and_routing_keys(herald: RunningHerald) -> None:
    client = herald.client
    # The first alert for an unknown key creates a service named after it ...
    client.post(f"{VO}/index-tts-2.0-prod", json={"message_type": "CRITICAL", "entity_id": "a"})
    created = client.post(
        "/api/v1/services",
        json={"name": "tts-inference", "routing_keys": ["tts-inference"], "description": "IndexTTS 2.0 inference"},
    )
    assert created.status_code == 201 and created.json()["routing_keys"] == ["tts-inference"]
    # ... and the user moves that key to the real service later.
    moved = client.post("/api/v1/services/tts-inference/routing-keys", json={"key": "index-tts-2.0-prod"}).json()
    assert moved["moved_from"] == "index-tts-2.0-prod"
    assert moved["service"]["routing_keys"] == ["index-tts-2.0-prod", "tts-inference"]
    later = client.post(f"{VO}/index-tts-2.0-prod", json={"message_type": "CRITICAL", "entity_id": "b"}).json()
    assert client.get(f"/api/v1/incidents/{later['incident']}").json()["service"] == "tts-inference"

    assert client.get("/api/v1/services/tts-inference").json()["description"] == "IndexTTS 2.0 inference"
    assert client.delete("/api/v1/services/tts-inference/routing-keys/tts-inference").json()["routing_keys"] == [
        "index-tts-2.0-prod"
    ]
    assert client.delete("/api/v1/services/index-tts-2.0-prod").status_code == 204
    assert [s["name"] for s in client.get("/api/v1/services").json()] == ["tts-inference"]


def test_service_conflicts_and_bad_input(herald: RunningHerald) -> None:
    client = herald.client
    client.post("/api/v1/services", json={"name": "a", "routing_keys": ["k1"]})
    cases = [
        ("post", "/api/v1/services", {"name": "a"}, 409, "exists already"),
        ("post", "/api/v1/services", {"name": "b", "routing_keys": ["k1"]}, 409, "already in use"),
        ("post", "/api/v1/services", {"name": "b", "routing_keys": ["x/y"]}, 422, "routing key"),
        ("post", "/api/v1/services", {"name": "b", "team": "ghosts"}, 404, "ghosts"),
        ("post", "/api/v1/services", {"name": "b", "colour": "red"}, 422, "colour"),
        ("post", "/api/v1/services", {"name": 3}, 422, "name"),
        ("get", "/api/v1/services/zzz", None, 404, "zzz"),
        ("delete", "/api/v1/services/a/routing-keys/k9", None, 404, "k9"),
    ]
    for method, url, body, status, fragment in cases:
        response = client.request(method, url, json=body)
        assert response.status_code == status, (url, body, response.text)
        assert fragment in response.json()["reason"]
    assert [s["name"] for s in client.get("/api/v1/services").json()] == ["a"]
