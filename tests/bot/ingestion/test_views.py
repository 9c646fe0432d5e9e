"""The integration endpoints over real HTTP, on SQLite and PostgreSQL, with the vendors' fixture payloads."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.herald import INTEGRATION_KEY, RunningHerald

VO = f"/api/v1/integrations/victorops/{INTEGRATION_KEY}"
AM = f"/api/v1/integrations/alertmanager/{INTEGRATION_KEY}"


def post_vo(herald: RunningHerald, fixtures: Path, name: str, routing_key: str = "index-tts-2.0-prod") -> dict:
    response = herald.client.post(f"{VO}/{routing_key}", content=(fixtures / "victorops" / f"{name}.json").read_bytes())
    assert response.status_code == 200, response.text
    return response.json()


def post_am(herald: RunningHerald, fixtures: Path, name: str) -> dict:
    response = herald.client.post(AM, content=(fixtures / "alertmanager" / f"{name}.json").read_bytes())
    assert response.status_code == 200, response.text
    return response.json()


def timeline(herald: RunningHerald, number: int) -> list[dict]:
    return herald.client.get(f"/api/v1/incidents/{number}").json()["timeline"]


def test_victorops_rest_lifecycle(herald: RunningHerald, fixtures_dir: Path) -> None:
    warning = post_vo(herald, fixtures_dir, "01-warning-p95-latency")
    assert warning["result"] == "success" and warning["outcome"] == "opened"
    number = warning["incident"]
    herald.clock.advance(90)
    assert post_vo(herald, fixtures_dir, "02-critical-p95-latency")["outcome"] == "escalated"
    assert post_vo(herald, fixtures_dir, "02-critical-p95-latency")["outcome"] == "duplicate"  # a retry
    info = post_vo(herald, fixtures_dir, "03-info-pod-restart")
    assert (info["outcome"], info["incident"]) == ("recorded", number)
    ack = post_vo(herald, fixtures_dir, "04-acknowledgement-p95-latency")
    assert ack["outcome"] == "acknowledged"
    incident = herald.client.get(f"/api/v1/incidents/{number}").json()
    assert (incident["state"], incident["severity"], incident["acknowledged_by"]) == (
        "acknowledged",
        "P1",
        "mara.lindqvist",
    )
    herald.clock.advance(1800)
    assert post_vo(herald, fixtures_dir, "05-recovery-p95-latency")["outcome"] == "resolved"

    incidents = herald.client.get("/api/v1/incidents").json()
    assert [(i["number"], i["state"], i["service"]) for i in incidents] == [(number, "resolved", "index-tts-2.0-prod")]
    kinds = [e["kind"] for e in timeline(herald, number) if e["source"] == "victorops"]
    assert kinds == [
        "triggered",
        "alert",
        "severity_raised",
        "alert_info",
        "acknowledged",
        "note",
        "alert_resolved",
        "resolved",
    ]


def test_alertmanager_groups_truncation_retries_and_resolution(herald: RunningHerald, fixtures_dir: Path) -> None:
    first = post_am(herald, fixtures_dir, "01-firing-p95-latency-group")
    assert first["outcomes"] == {"opened": 1, "grouped": 2} and len(first["incidents"]) == 1
    gpu = post_am(herald, fixtures_dir, "04-firing-gpu-memory-truncated")
    assert gpu["outcomes"] == {"opened": 1, "grouped": 4} and gpu["incidents"] != first["incidents"]
    assert post_am(herald, fixtures_dir, "01-firing-p95-latency-group")["outcomes"] == {"duplicate": 3}
    herald.clock.advance(1800)
    assert post_am(herald, fixtures_dir, "02-resolved-p95-latency-group")["outcomes"] == {"resolved": 3}

    [latency] = first["incidents"]
    detail = herald.client.get(f"/api/v1/incidents/{latency}").json()
    assert (detail["state"], detail["alert_count"], detail["service"]) == ("resolved", 3, "tts-inference")
    assert detail["title"] == "TTSInferenceP95LatencyHigh (service=tts-inference)"
    gpu_timeline = timeline(herald, gpu["incidents"][0])
    assert any(e["kind"] == "alerts_truncated" and "2 more" in e["message"] for e in gpu_timeline)
    assert herald.client.get(f"/api/v1/incidents/{gpu['incidents'][0]}").json()["state"] == "triggered"

    metrics = httpx.get(f"{herald.base_url}/metrics").text
    assert 'herald_alerts_received_total{outcome="duplicate",source="alertmanager"} 3.0' in metrics
    assert 'herald_ingest_latency_seconds_count{source="alertmanager"} 4.0' in metrics


def test_an_unknown_routing_key_creates_its_service(herald: RunningHerald) -> None:
    body = {"message_type": "CRITICAL", "entity_id": "disk/full", "entity_display_name": "Disk full on db-1"}
    created = herald.client.post(f"{VO}/my-service", json=body).json()
    assert created["outcome"] == "opened"
    services = herald.client.get("/api/v1/services").json()
    assert [(s["name"], s["routing_keys"]) for s in services] == [("my-service", ["my-service"])]


def test_the_openapi_document_lists_the_parameters_the_integration_routes_read_themselves(
    herald: RunningHerald,
) -> None:
    paths = herald.client.get("/openapi.json").json()["paths"]

    def parameters(path: str) -> list[tuple[str, str, bool]]:
        return [(p["name"], p["in"], p["required"]) for p in paths[path]["post"]["parameters"]]

    assert parameters("/api/v1/integrations/victorops/{integration_key}/{routing_key}") == [
        ("integration_key", "path", True),
        ("routing_key", "path", True),
    ]
    assert parameters("/api/v1/integrations/alertmanager/{integration_key}") == [
        ("integration_key", "path", True),
        ("routing_key", "query", False),
    ]


def test_the_routing_key_query_parameter_picks_the_service_of_an_alertmanager_alert(herald: RunningHerald) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "X", "service": "label-svc"},
        "startsAt": "2025-11-18T14:00:00Z",
    }
    body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": [alert]}
    assert herald.client.post(f"{AM}?routing_key=query-svc", json=body).status_code == 200
    assert [s["name"] for s in herald.client.get("/api/v1/services").json()] == ["query-svc"]


BAD_INPUTS = [
    (VO + "/rk", {"content": b"{nope", "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
    (VO + "/rk", {"content": b""}, 422, "empty"),
    (VO + "/rk", {"json": {"message_type": 7}}, 422, "message_type"),
    (VO + "/rk", {"json": {"message_type": "CRITICAL", "state_start_time": "noon"}}, 422, "state_start_time"),
    (VO + "/rk", {"json": ["CRITICAL"]}, 422, "JSON object"),
    (VO + "/rk", {"json": {"message_type": "RECOVERY"}}, 422, "entity_id"),
    (VO + "/rk", {"json": {"message_type": "CRITICAL", "entity_id": "x" * 600}}, 422, "entity_id"),
    ("/api/v1/integrations/victorops/wrong-key/rk", {"json": {"message_type": "CRITICAL"}}, 401, "integration key"),
    (VO + "/rk", {"content": b'{"message_type": "' + b"x" * (2 * 1024 * 1024) + b'"}'}, 413, "larger than"),
    (AM, {"json": {"version": "4", "status": "firing", "alerts": []}}, 422, "groupKey"),
    (AM, {"json": {"version": "4", "groupKey": "g", "status": "firing", "alerts": [{"status": "x"}]}}, 422, "alerts"),
    (AM, {"json": {"version": "2", "groupKey": "g", "status": "firing", "alerts": []}}, 422, "version"),
    (AM + "?routing_key=a%2Fb", {"json": {}}, 422, "routing key"),
    ("/api/v1/integrations/alertmanager/nope", {"json": {}}, 401, "integration key"),
]


@pytest.mark.parametrize(("url", "kwargs", "status", "fragment"), BAD_INPUTS)
def test_bad_input_is_a_4xx_with_a_reason_and_writes_nothing(
    herald: RunningHerald, url: str, kwargs: dict, status: int, fragment: str
) -> None:
    response = herald.client.post(url, **kwargs)
    assert response.status_code == status, response.text
    assert fragment in response.json()["reason"]
    assert herald.client.get("/api/v1/incidents").json() == []
    assert herald.client.get("/api/v1/services").json() == []
    if status != 413:  # the body-size limit answers before any route, so only the others are counted
        assert 'outcome="rejected"' in httpx.get(f"{herald.base_url}/metrics").text


def test_a_concurrent_storm_over_http_with_retries_ends_as_one_incident_per_group(herald: RunningHerald) -> None:
    """2,000 alerts over 20 groups from 8 senders, every tenth delivery retried: 20 incidents, no more."""
    payloads = []
    for n in range(2_000):
        group = n % 20
        alert = {
            "status": "firing",
            "labels": {"alertname": f"Storm{group}", "pod": f"pod-{n}", "service": "storm", "severity": "critical"},
            "annotations": {"summary": f"pod-{n} is unhappy"},
            "startsAt": "2025-11-18T14:00:00Z",
        }
        payloads.append({"version": "4", "groupKey": f"{{}}:{{alertname=\"Storm{group}\"}}", "status": "firing",
                         "alerts": [alert]})  # fmt: skip
    deliveries = payloads + payloads[::10]
    random.Random(3).shuffle(deliveries)
    errors: list[str] = []

    def sender(chunk: list[dict]) -> None:
        with httpx.Client(base_url=herald.base_url, timeout=60) as client:
            for body in chunk:
                response = client.post(AM, content=json.dumps(body))
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=sender, args=(deliveries[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    incidents = herald.client.get("/api/v1/incidents", params={"limit": 1000}).json()
    assert len(incidents) == 20
    assert sum(i["alert_count"] for i in incidents) == 2_000
    metrics = httpx.get(f"{herald.base_url}/metrics").text
    assert 'herald_alerts_received_total{outcome="duplicate",source="alertmanager"} 200.0' in metrics
