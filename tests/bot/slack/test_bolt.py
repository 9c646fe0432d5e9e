"""The `/slack/events` endpoint: signatures verified (forged, expired and replayed requests refused, nothing
done), Slack's URL check answered, and a Herald without Slack credentials running and saying so."""

from __future__ import annotations

import json
import time

from bot.incidents import service
from tests.bot.slack.conftest import open_incident, slack_settings, state_of
from tests.support.herald import running_herald


def _acks(herald, number: int) -> int:
    with herald.runtime.sessions() as session:
        return [e.kind for e in service.get_with_timeline(session, number=number).timeline].count("acknowledged")


def test_forged_and_expired_requests_are_refused(herald, slack) -> None:
    number = open_incident(herald)
    body = f"command=%2Fack&text={number}&user_id=U04LM7QX9RT&channel_id=C07Q4M8ZK1P"
    assert slack.post(body, secret="not-the-signing-secret").status_code == 401
    assert slack.post(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    unsigned = {"content-type": "application/x-www-form-urlencoded"}
    assert slack.post(body, headers=unsigned).status_code == 401
    assert state_of(herald, number) == "triggered"


def test_a_replayed_request_is_refused_even_inside_the_window(herald, slack) -> None:
    number = open_incident(herald)
    body = f"command=%2Fack&text={number}&user_id=U04LM7QX9RT&channel_id=C07Q4M8ZK1P"
    headers = slack.signed_headers(body)
    assert slack.post(body, headers=headers).status_code == 200
    assert slack.post(body, headers=headers).status_code == 401
    assert _acks(herald, number) == 1


def test_the_captured_fixture_request_is_too_old_to_be_accepted(herald, slack, fixtures_dir) -> None:
    raw = (fixtures_dir / "slack" / "slash-command-ack.txt").read_text()
    headers = json.loads((fixtures_dir / "manifest.json").read_text())["slack/slash-command-ack.txt"]["headers"]
    response = slack.post(raw, headers={k.lower(): v for k, v in headers.items()})
    assert response.status_code == 401  # correctly signed in 2025, replayed now


def test_url_verification_challenge(herald, slack) -> None:
    response = slack._post_json(
        {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    )
    assert response.status_code == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


def test_without_slack_credentials_herald_runs_and_says_not_configured(sqlite_url, tmp_path, fake) -> None:
    settings = slack_settings(sqlite_url, tmp_path, fake, slack_bot_token="", slack_signing_secret="")
    with running_herald(settings) as herald:
        health = herald.client.get("/healthz").json()
        assert health["components"]["slack"] == "not configured"
        assert herald.client.post("/slack/events", content="x").status_code == 404
        open_incident(herald, service_name=None, assignee=None)
        herald.run_outbox()
    assert fake.calls == []


def test_with_a_bot_token_only_slack_is_mirrored_but_no_endpoint_accepts_unverifiable_requests(
    sqlite_url, tmp_path, fake
) -> None:
    settings = slack_settings(sqlite_url, tmp_path, fake, slack_signing_secret="")
    with running_herald(settings) as herald:
        assert herald.client.get("/healthz").json()["components"]["slack"].startswith("mirroring only")
        assert herald.client.post("/slack/events", content="x").status_code == 404
        open_incident(herald, service_name=None, assignee=None)
        herald.run_outbox()
    assert len([c for c in fake.named("chat.postMessage") if "thread_ts" not in c.params]) == 1
