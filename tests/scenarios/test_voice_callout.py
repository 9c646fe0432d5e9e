"""Issue 15 end to end: a P1 from VictorOps that nobody acknowledges in Slack ends in a phone call; the engineer
presses 1 and the incident is acknowledged in Herald, in Slack and in VictorOps. The call's audio is in the
incident's Slack thread and in the engineer's DMs. With Twilio refusing the number, the failure is posted in
Slack; a call through the Twilio provider is answered and acknowledged too; `herald demo` ends with a callout.

Real parts throughout: Herald on loopback HTTP, the simulated phone calling its webhooks, fake Slack and VictorOps
APIs on loopback, the escalation engine and outbox driven by hand with a fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile

from bot.cli import main
from bot.incidents import service
from bot.settings import Settings
from tests.bot.voice.harness import MARA, VoiceHerald, voice_herald
from tests.fakes.slack import FakeSlack, fake_slack
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, fake_twilio
from tests.fakes.victorops import API_ID, API_KEY, FakeVictorOps, running_victorops
from tests.support.herald import INTEGRATION_KEY

ROUTING_KEY = "index-tts-2.0-prod"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as running:
        running.add_user("UMARA", "mara@example.com", "mara")
        yield running


@pytest.fixture
def victorops(fixtures_dir: Path) -> Iterator[FakeVictorOps]:
    alert = json.loads((fixtures_dir / "victorops" / "02-critical-p95-latency.json").read_text())
    with running_victorops() as running:
        running.add_incident("42", entity_id=alert["entity_id"], routing_key=ROUTING_KEY)
        yield running


def _post_alert(herald: VoiceHerald, fixtures_dir: Path) -> int:
    body = (fixtures_dir / "victorops" / "02-critical-p95-latency.json").read_bytes()
    response = herald.client.post(
        f"/api/v1/integrations/victorops/{INTEGRATION_KEY}/{ROUTING_KEY}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response.json()["incident"]


def test_p1_nobody_acks_in_slack_the_phone_call_acks_everywhere(
    database_url: str, tmp_path: Path, fixtures_dir: Path, slack: FakeSlack, victorops: FakeVictorOps
) -> None:
    settings = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": "test-signing-secret",
        "slack_api_url": slack.api_url,
        "victorops_api_id": API_ID,
        "victorops_api_key": API_KEY,
        "victorops_api_url": victorops.base_url,
        "telephony_simulated_script": f"listen;{MARA}=press:1",
    }
    with voice_herald(database_url, tmp_path, **settings) as herald:
        number = _post_alert(herald, fixtures_dir)
        calls = herald.settle()
        assert [c.to for c in calls] == [MARA] and "pressed:1" in calls[0].events
        herald.settle()  # deliver what the acknowledgement queued (VictorOps sync, Slack updates)

        with herald.runtime.sessions() as session:
            incident = service.get(session, number=number)
            assert (incident.state, incident.acknowledged_by) == ("acknowledged", "mara@example.com")
        assert ("ack", ["42"]) in victorops.actions()
        assert victorops.incidents["42"]["currentPhase"] == "ACKED"
        updates = [c.params for c in slack.named("chat.update")]
        assert any("cknowledged" in json.dumps(u) for u in updates)
        uploads = slack.named("files.completeUploadExternal")
        destinations = {(u.params.get("channel_id"), bool(u.params.get("thread_ts"))) for u in uploads}
        assert len(uploads) == 2 and any(thread for _, thread in destinations)  # the thread and the DM
        assert slack.named("conversations.open")  # the DM to Mara
        kinds = [kind for kind, _ in herald.timeline(number)]
        assert kinds.index("voice_call") < kinds.index("acknowledged")


def test_twilio_refusing_the_number_falls_back_to_slack(database_url: str, tmp_path: Path, slack: FakeSlack) -> None:
    with fake_twilio() as twilio:
        twilio.refuse_next()
        settings = {
            "telephony": "twilio",
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": FROM_NUMBER,
            "twilio_api_url": twilio.base_url,
            "slack_bot_token": "xoxb-test",
            "slack_api_url": slack.api_url,
        }
        with voice_herald(database_url, tmp_path, **settings) as herald:
            number = herald.trigger()
            _run(herald)
            messages = [m for _, m in herald.timeline(number)]
            assert any("Could not call Mara Lindqvist" in m and "21211" in m for m in messages)
            # Mara already has a Slack DM from this level, so the failed call is reported in the incident channel.
            assert any("voice to Mara Lindqvist failed" in m and "falling back to slack_channel" in m for m in messages)


def test_twilio_call_answered_and_acknowledged(
    database_url: str, tmp_path: Path, fake_twilio_running: FakeTwilio
) -> None:
    twilio = fake_twilio_running
    settings = {
        "telephony": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": FROM_NUMBER,
        "twilio_api_url": twilio.base_url,
    }
    with voice_herald(database_url, tmp_path, **settings) as herald:
        number = herald.trigger()
        _run(herald)
        assert [c.get("To") for c in twilio.created] == [MARA]
        call = twilio.ring(twilio.created[0], "press:1")
        assert call.error is None and call.audio, call.error
        with herald.runtime.sessions() as session:
            assert service.get(session, number=number).state == "acknowledged"


@pytest.fixture
def fake_twilio_running() -> Iterator[FakeTwilio]:
    with fake_twilio() as running:
        yield running


def _run(herald: VoiceHerald) -> None:
    for _ in range(4):
        herald.voice.presynth_worker.run_once()
        herald.runtime.extras["escalation"].engine.tick(herald.clock.now())
        herald.runtime.outbox.run_once()


def test_herald_demo_ends_with_a_callout_whose_audio_is_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo")], Settings(_env_file=None, data_dir=tmp_path)) == 0
    out = capsys.readouterr().out
    assert "Voice callout" in out and "pressed:1" in out and "via phone" in out
    (audio,) = (tmp_path / "demo").glob("callout-incident-*.wav")
    assert 1.0 < soundfile.info(str(audio)).duration <= 20.05
