"""A Herald wired to the fake Slack, a small directory, and a client that signs requests as Slack does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.directory.models import Service, Team, User
from bot.incidents import service
from bot.incidents.states import Severity
from bot.slack.models import SlackMessage
from tests.fakes.slack import FakeSlack, fake_slack
from tests.support.herald import RunningHerald, make_settings, running_herald

SIGNING_SECRET = "a5f1c9e7b3d24f6a8c0e1b2d3f4a5c6e"  # the fixtures' fake secret
MARA, ADMIN, OUTSIDER, STRANGER = "U04LM7QX9RT", "U0ADMIN001", "U0OUTSIDE1", "U0STRANGER"


@dataclass
class SlackClient:
    """Sends what Slack would send to `/slack/events`, signed with the signing secret."""

    herald: RunningHerald
    fake: FakeSlack

    def signed_headers(self, body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        return {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature,
        }

    def post(self, body: str, headers: dict | None = None, **sign: Any) -> httpx.Response:
        return self.herald.client.post(
            "/slack/events", content=body, headers=headers or self.signed_headers(body, **sign)
        )

    def command(self, command: str, text: str = "", *, user: str = MARA, channel: str = "C07Q4M8ZK1P", **extra):
        fields = {
            "team_id": "T05K3H9RQ2L",
            "channel_id": channel,
            "channel_name": "inc-tts-prod",
            "user_id": user,
            "command": command,
            "text": text,
            "api_app_id": "A07HRLD9K2M",
            "response_url": self.fake.response_url(command.strip("/")),
            "trigger_id": "8091234567890.5198765432109.6c1e0f4b9a7d2e3f8a5b6c7d9e0f1a2b",
            **extra,
        }
        return self.post(urlencode(fields))

    def click(self, action_id: str, value: str, *, user: str = MARA, ephemeral: bool = False, fixtures: Path):
        payload = json.loads((fixtures / "slack" / "block-actions-acknowledge.json").read_text())
        payload["user"]["id"] = user
        payload["response_url"] = self.fake.response_url("click")
        payload["container"]["is_ephemeral"] = ephemeral
        payload["actions"][0].update(action_id=action_id, value=value)
        return self.post(urlencode({"payload": json.dumps(payload)}))

    def mention(self, text: str, *, thread_ts: str | None, channel: str, user: str = MARA):
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@UHERALDBOT> {text}",
            "channel": channel,
            "ts": "1763474700.000100",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = {
            "type": "event_callback",
            "team_id": "T05K3H9RQ2L",
            "api_app_id": "A07HRLD9K2M",
            "event": event,
            "event_id": "Ev0TEST",
            "event_time": int(time.time()),
        }
        return self._post_json(body)

    def _post_json(self, body: dict) -> httpx.Response:
        raw = json.dumps(body)
        headers = {**self.signed_headers(raw), "content-type": "application/json"}
        return self.herald.client.post("/slack/events", content=raw, headers=headers)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with fake_slack() as running:
        running.add_user(MARA, "mara.lindqvist@example.com", "mara.lindqvist")
        running.add_user(ADMIN, "ada.admin@example.com", "ada")
        running.add_user(OUTSIDER, "olle.outsider@example.com", "olle")
        running.add_user(STRANGER, "nobody@elsewhere.example", "nobody")
        yield running


def slack_settings(database_url: str, tmp_path: Path, fake: FakeSlack, **overrides: Any):
    values = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.api_url,
        "slack_default_channel": "#incidents",
        **overrides,
    }
    return make_settings(database_url, data_dir=tmp_path, **values)


def seed(herald: RunningHerald) -> None:
    """Team mlops (channel #inc-tts-prod) owns tts-inference; Mara is in mlops, Ada is an admin, Olle is neither."""
    now = herald.clock.now()
    with herald.runtime.transaction() as session:
        mara = User(name="Mara Lindqvist", email="mara.lindqvist@example.com", time_zone="Europe/Stockholm")
        session.add_all(
            [
                mara,
                User(name="Ada Admin", email="ada.admin@example.com", role="admin"),
                User(name="Olle Outsider", email="olle.outsider@example.com"),
            ]
        )
        team = Team(name="mlops", slack_channel="#inc-tts-prod", members=[mara])
        session.add(team)
        session.flush()
        session.add(Service(name="tts-inference", team_id=team.id, created_at=now))
        session.add(Service(name="billing", created_at=now))


def open_incident(
    herald: RunningHerald,
    title: str = "p95 latency high",
    service_name: str | None = "tts-inference",
    assignee: str | None = "mara.lindqvist@example.com",
    **kwargs: Any,
) -> int:
    """An incident as ingestion opens one; `assignee` (seeded directly, as a routing rule would) is a responder."""
    with herald.runtime.transaction() as session:
        svc = session.query(Service).filter_by(name=service_name).one() if service_name else None
        incident = service.open_incident(
            session,
            clock=herald.clock,
            events=herald.runtime.events,
            title=title,
            severity=kwargs.pop("severity", Severity.P1),
            service=svc,
            group_key=kwargs.pop("group_key", title),
            source=kwargs.pop("source", "alertmanager"),
            actor="alertmanager",
            **kwargs,
        )
        if assignee:
            incident.assignee_id = session.query(User).filter_by(email=assignee).one().id
        return incident.number


def message_of(herald: RunningHerald, number: int) -> SlackMessage | None:
    with herald.runtime.sessions() as session:
        incident = service.get(session, number=number)
        return session.get(SlackMessage, incident.id)


def state_of(herald: RunningHerald, number: int) -> str:
    with herald.runtime.sessions() as session:
        return service.get(session, number=number).state


@pytest.fixture
def herald(database_url: str, tmp_path: Path, fake: FakeSlack) -> Iterator[RunningHerald]:
    with running_herald(slack_settings(database_url, tmp_path, fake)) as running:
        seed(running)
        yield running


@pytest.fixture
def slack(herald: RunningHerald, fake: FakeSlack) -> SlackClient:
    return SlackClient(herald, fake)
