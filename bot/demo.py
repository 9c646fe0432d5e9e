"""`herald demo`: the seed incident replayed through Herald's real HTTP endpoints, then printed with its timeline.

On a fresh SQLite file, with a clock that starts at 13:40 UTC on 2025-11-18 and moves only between steps, the demo
plays the TTS outage of the fixtures' scenario: a CI/CD canary inside a maintenance window, p95 latency of
`POST /tts/synthesize` rising from 0.6 s to 1.8 s, GPU memory at ~100 %, pods restarting, an acknowledgement, the
rollback and the recoveries. A grouping rule puts the VictorOps and Alertmanager alerts of `tts-inference` in prod
into one incident. No account is needed: Slack and VictorOps credentials are blanked for the run.

The scenario is a list of `Step`s; other parts of Herald extend the demo by adding steps to `SCENARIO`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from bot.app import create_app
from bot.clock import FakeClock
from bot.settings import Settings
from bot.voice import demo as voice_demo

START = datetime(2025, 11, 18, 13, 40, tzinfo=UTC)
API_TOKEN = "demo-token"
KEY = "demo-key"
PROD, STAGING = "index-tts-2.0-prod", "index-tts-2.0-staging"
LATENCY_ENTITY = "tts-inference/prod/POST /tts/synthesize/p95-latency"
RULES = """\
- name: tts-inference-prod
  match: {service: tts-inference, env: prod}
  group_by: [service, env]
"""
COMMON = {"team": "mlops", "service": "tts-inference", "cluster": "prod-gpu-eu-west-1", "namespace": "tts-prod"}
PODS = ["tts-inference-6d8f7c9b54-4xk2p", "tts-inference-6d8f7c9b54-9qw7z", "tts-inference-6d8f7c9b54-hm2sd"]


@dataclass(frozen=True)
class Step:
    at: str  # HH:MM:SS on 2025-11-18, UTC
    says: str
    call: Callable[[httpx.Client], httpx.Response]


def _vo(routing_key: str, body: dict[str, Any]) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.post(f"/api/v1/integrations/victorops/{KEY}/{routing_key}", json=body)


def _am(body: dict[str, Any]) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.post(f"/api/v1/integrations/alertmanager/{KEY}", json=body)


def _post(path: str, body: dict[str, Any], actor: str = "demo") -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.post(path, json=body, headers={"X-Herald-Actor": actor})


def _ack_latest(actor: str) -> Callable[[httpx.Client], httpx.Response]:
    def call(client: httpx.Client) -> httpx.Response:
        number = client.get("/api/v1/incidents", params={"service": "tts-inference", "state": "open"}).json()[0]
        return client.post(f"/api/v1/incidents/{number['number']}/acknowledge", headers={"X-Herald-Actor": actor})

    return call


def _am_group(
    alertname: str, status: str, starts: str, alerts: list[tuple[dict[str, str], str]], ends: str | None = None
) -> dict[str, Any]:
    """An Alertmanager v4 message for one `[alertname, service]` group, as the fixtures' route config sends it."""
    return {
        "version": "4",
        "receiver": "herald-mlops",
        "status": status,
        "groupKey": f'{{}}/{{team="mlops"}}:{{alertname="{alertname}", service="tts-inference"}}',
        "groupLabels": {"alertname": alertname, "service": "tts-inference"},
        "commonLabels": {**COMMON, "alertname": alertname, "env": "prod", "severity": "critical"},
        "externalURL": "https://alertmanager.prod.example.com",
        "alerts": [
            {
                "status": status,
                "labels": {**COMMON, "alertname": alertname, "env": "prod", "severity": "critical", **labels},
                "annotations": {"summary": summary},
                "startsAt": starts,
                "endsAt": ends or "0001-01-01T00:00:00Z",
            }
            for labels, summary in alerts
        ],
    }


def _latency(status: str, ends: str | None = None) -> dict[str, Any]:
    alerts = [
        ({"pod": pod}, f"p95 of POST /tts/synthesize {p95} on {pod}")
        for pod, p95 in zip(PODS, ("1.84s", "1.79s", "1.81s"), strict=True)
    ]
    return _am_group("TTSInferenceP95LatencyHigh", status, "2025-11-18T14:02:15.912Z", alerts, ends)


def _gpu(status: str, ends: str | None = None) -> dict[str, Any]:
    alerts = [
        ({"pod": pod, "gpu": "0"}, f"GPU framebuffer {use} full for {pod}")
        for pod, use in zip(PODS, ("99.8%", "98.6%", "98.9%"), strict=True)
    ]
    return _am_group("TTSGPUMemorySaturated", status, "2025-11-18T14:01:45.912Z", alerts, ends)


def _restarts(status: str, ends: str | None = None) -> dict[str, Any]:
    alerts = [({"pod": pod}, f"{pod} restarted (OOMKilled)") for pod in PODS[1:]]
    return _am_group("TTSInferencePodRestarting", status, "2025-11-18T14:03:45.000Z", alerts, ends)


def _vo_latency(message_type: str, name: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"message_type": message_type, "entity_id": LATENCY_ENTITY, "entity_display_name": name,
            "state_message": text, "monitoring_tool": "Prometheus Alertmanager", "team": "mlops", "env": "prod",
            "service": "tts-inference", **extra}  # fmt: skip


CANARY = {
    "entity_id": "deployment-canary-v1.1.0",
    "entity_display_name": "index-tts-2.0 canary v1.1.0 (10% traffic)",
    "monitoring_tool": "CI/CD Pipeline",
    "service": "tts-inference",
    "env": "staging",
    "release": "v1.1.0",
}
RESOLVED_AT = "2025-11-18T14:31:05.912Z"

SCENARIO: list[Step] = [
    Step("13:40:00", "Create service tts-inference with its routing keys",
         _post("/api/v1/services", {"name": "tts-inference", "routing_keys": [PROD, "tts-inference"]})),
    Step("13:40:00", "Create service tts-inference-staging",
         _post("/api/v1/services", {"name": "tts-inference-staging", "routing_keys": [STAGING]})),
    Step("13:40:01", "CI/CD opens a 45-minute maintenance window for the canary",
         _post("/api/v1/maintenance", {"service": STAGING, "reason": "canary v1.1.0", "duration_minutes": 45}, "ci")),
    Step("13:40:03", "VictorOps WARNING: canary v1.1.0 deploying (inside the window)",
         _vo(STAGING, {"message_type": "WARNING", "state_message": "canary started", **CANARY})),
    Step("14:01:02", "VictorOps WARNING: p95 of POST /tts/synthesize 1.04 s (baseline 0.60 s)",
         _vo(PROD, _vo_latency("WARNING", "tts-inference (prod): p95 latency 1.04s, rising",
                               "p95 1.04s and rising on 3 of 7 pods; GPU framebuffer 97%"))),
    Step("14:01:45", "Alertmanager: GPU framebuffer ~100 % on 3 GPUs", _am(_gpu("firing"))),
    Step("14:02:15", "Alertmanager: TTSInferenceP95LatencyHigh on 3 pods", _am(_latency("firing"))),
    Step("14:02:47", "VictorOps CRITICAL: p95 1.84 s for 2 minutes",
         _vo(PROD, _vo_latency("CRITICAL", "tts-inference (prod): p95 latency 1.84s (baseline 0.60s)",
                               "p95 1.84s / 1.79s / 1.81s on 3 pods; GPU framebuffer 99-100%; pods OOMKilled"))),
    Step("14:02:50", "Alertmanager retries the same group (a duplicate)", _am(_latency("firing"))),
    Step("14:03:42", "Mara Lindqvist acknowledges", _ack_latest("mara.lindqvist")),
    Step("14:03:45", "Alertmanager: pods restarting (OOMKilled)", _am(_restarts("firing"))),
    Step("14:03:46", "VictorOps INFO: pod restarted (recorded, never pages)",
         _vo(PROD, {"message_type": "INFO", "entity_id": "tts-inference/prod/pod-restarts", "env": "prod",
                    "entity_display_name": "pod tts-inference-6d8f7c9b54-9qw7z restarted (OOMKilled)",
                    "service": "tts-inference"})),
    Step("14:12:00", "VictorOps RECOVERY: canary promoted",
         _vo(STAGING, {"message_type": "RECOVERY", "state_message": "promoted after all gates passed", **CANARY})),
    Step("14:31:05", "Alertmanager: latency resolved after the rollback to v1.0.3",
         _am(_latency("resolved", RESOLVED_AT))),
    Step("14:31:06", "Alertmanager: GPU memory back to 71 %", _am(_gpu("resolved", RESOLVED_AT))),
    Step("14:31:07", "Alertmanager: no restarts for 10 minutes", _am(_restarts("resolved", RESOLVED_AT))),
    Step("14:31:36", "VictorOps RECOVERY: p95 back to 0.61 s",
         _vo(PROD, _vo_latency("RECOVERY", "tts-inference (prod): p95 latency 1.84s (baseline 0.60s)",
                               "p95 back to 0.61s after rollback to v1.0.3"))),
]  # fmt: skip


def demo_settings(base: Settings, directory: Path) -> Settings:
    """Settings of the demo: a fresh SQLite file in `directory`, the demo's rules, and no outside accounts."""
    database = directory / "herald-demo.db"
    for leftover in directory.glob("herald-demo.db*"):
        leftover.unlink()
    rules = directory / "grouping-rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    return Settings(
        _env_file=None,
        **{
            **base.model_dump(),
            "database_url": f"sqlite:///{database.as_posix()}",
            "data_dir": directory,
            "auto_migrate": True,
            "api_token": API_TOKEN,
            "integration_key": KEY,
            "grouping_rules_file": rules,
            "victorops_api_id": "",
            "slack_bot_token": "",
            "slack_app_token": "",
            "telephony": "simulated",
        },
    )


def run(base: Settings, *, directory: Path, console: Console | None = None) -> int:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or captured: keep each timeline entry on one line
            console = Console(width=160)
    directory.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(base, directory)
    clock = FakeClock(START)
    app = create_app(settings, clock, run_background=False)
    runtime = app.state.runtime
    console.print(f"[bold]Herald demo[/bold] on {settings.effective_database_url}")
    with (
        _serving(app) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30) as client,
    ):
        for step in SCENARIO:
            clock.set(datetime.combine(START.date(), datetime.strptime(step.at, "%H:%M:%S").time(), UTC))
            response = step.call(client)
            if response.status_code >= 400:
                console.print(f"[red]{step.at} {step.says}: HTTP {response.status_code} {response.text}[/red]")
                return 1
            console.print(f"{step.at}  {step.says}  [dim]→ {_summary(response.json())}[/dim]")
            runtime.outbox.run_once()
        incidents = client.get("/api/v1/incidents", params={"limit": 1000}).json()
        main = next(i for i in incidents if i["service"] == "tts-inference")
        _print_incident(console, client.get(f"/api/v1/incidents/{main['number']}").json())
        others = [f"#{i['number']} {i['state']} {i['service']}: {i['title']}" for i in incidents if i is not main]
        console.print("Other incidents: " + ("; ".join(others) or "none"))
        return voice_demo.callout(runtime, client, base_url, directory, clock, console)


def _summary(body: Any) -> str:
    if isinstance(body, dict):
        for keys in (("outcome", "incident"), ("outcomes", "incidents"), ("number", "state"), ("name",), ("id",)):
            if all(k in body for k in keys):
                return ", ".join(f"{k}={body[k]}" for k in keys)
    return "ok"


def _print_incident(console: Console, incident: dict[str, Any]) -> None:
    console.print(
        f"\n[bold]Incident #{incident['number']}[/bold] [{incident['severity']}] {incident['title']}\n"
        f"state {incident['state']} · service {incident['service']} · {incident['alert_count']} alerts · "
        f"acknowledged by {incident['acknowledged_by']} · resolved by {incident['resolved_by']}"
    )
    table = Table("time (UTC)", "kind", "actor", "message", show_lines=False)
    for entry in incident["timeline"]:
        table.add_row(entry["at"][11:19], entry["kind"], entry["actor"], entry["message"])
    console.print(table)


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    """Uvicorn on a free loopback port in a thread, for as long as the demo runs."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
