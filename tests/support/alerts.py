"""Alerts as Alertmanager sends them, posted to a running Herald: the shared fixture group, one webhook per pod."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path

import httpx

from tests.support.herald import INTEGRATION_KEY

ROUTING_KEY = "index-tts-2.0-prod"


def post_pod_alerts(client: httpx.Client, fixtures_dir: Path, pods: Iterable[int], severity: str = "critical") -> None:
    """Alerts of the fixture's Alertmanager group (one per pod) firing on `ROUTING_KEY`, one webhook each."""
    group = json.loads((fixtures_dir / "alertmanager" / "01-firing-p95-latency-group.json").read_text())
    for pod in pods:
        alert = copy.deepcopy(group["alerts"][0])
        alert["labels"].update(pod=f"tts-inference-{pod}", severity=severity)
        alert["fingerprint"] = f"{pod:016x}"
        answer = client.post(
            f"/api/v1/integrations/alertmanager/{INTEGRATION_KEY}",
            params={"routing_key": ROUTING_KEY},
            json={**group, "alerts": [alert]},
        )
        assert answer.status_code == 200, answer.text
