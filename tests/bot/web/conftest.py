"""A Herald with a small directory (team mlops, its schedule and policy) and browsers that sign in to the console.

Browsers are plain httpx clients with their own cookie jar, talking real HTTP to the running server; they send what
a browser sends (form posts with the page's CSRF token), never the API token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.config_apply import apply
from bot.web import auth
from tests.support.herald import INTEGRATION_KEY, RunningHerald

PASSWORD = "correct horse battery"
MARA, OLLE, ADA = "mara.lindqvist@example.com", "olle.outsider@example.com", "ada.admin@example.com"
ALERTMANAGER = f"/api/v1/integrations/alertmanager/{INTEGRATION_KEY}?routing_key=index-tts-2.0-prod"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

CONFIG = """
users:
  - {email: mara.lindqvist@example.com, name: Mara Lindqvist, time_zone: Europe/Stockholm, phone: "+15550100"}
  - {email: olle.outsider@example.com, name: Olle Outsider}
  - {email: ada.admin@example.com, name: Ada Admin}
teams:
  - name: mlops
    slack_channel: "#inc-tts-prod"
    members: [mara.lindqvist@example.com]
escalation_policy:
  name: TTS Production On-Call
  rules:
    - {level: 1, user: mara.lindqvist@example.com, wait: 5m}
    - {level: 2, user: ada.admin@example.com, wait: 10m}
services:
  - name: tts-inference
    team: mlops
    routing_keys: [index-tts-2.0-prod]
    escalation_policy: TTS Production On-Call
  - name: billing
schedules:
  - name: mlops-primary
    time_zone: Europe/Stockholm
    team: mlops
    layers:
      - name: weekly
        rotation: 1w
        start: "2025-11-17T09:00:00"
        participants: [mara.lindqvist@example.com, ada.admin@example.com]
"""


def seed(herald: RunningHerald) -> None:
    """The directory above; everyone gets PASSWORD, and Ada is an admin."""
    with herald.runtime.transaction() as session:
        apply(session, clock=herald.clock, text=CONFIG)
        for email in (MARA, OLLE, ADA):
            auth.set_password(session, email=email, password=PASSWORD, admin=email == ADA)


@dataclass
class Console:
    herald: RunningHerald
    fixtures: Path

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.herald.base_url, timeout=30)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Client:
        client = self.browser()
        token = csrf_of(client.get("/console/login"))
        answer = client.post("/console/login", data={"email": email, "password": password, "csrf": token})
        assert answer.status_code == 303, answer.text
        return client

    def alert(self, name: str = "01-firing-p95-latency-group.json") -> int:
        """Post an Alertmanager fixture for tts-inference; returns the incident number."""
        body = json.loads((self.fixtures / "alertmanager" / name).read_text())
        answer = self.herald.client.post(ALERTMANAGER, json=body)
        assert answer.is_success, answer.text
        return answer.json()["incidents"][0]


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


@pytest.fixture
def console(herald: RunningHerald, fixtures_dir: Path) -> Iterator[Console]:
    seed(herald)
    yield Console(herald, fixtures_dir)
