"""The call flow over real HTTP: the simulated phone answers Herald's own webhooks, signed as Twilio signs them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile

from bot.escalation import service as escalation
from bot.incidents import service
from bot.voice.links import derive_secret
from bot.voice.models import Callout, VoiceClip
from bot.voice.providers.base import sign
from bot.voice.providers.simulated import SimulatedCall
from tests.bot.voice.harness import BOB, CONFIG, LI, MARA, VoiceHerald, voice_herald


@pytest.fixture
def herald(database_url: str, tmp_path: Path) -> Iterator[VoiceHerald]:
    with voice_herald(database_url, tmp_path, telephony_simulated_script=f"listen;{MARA}=press:1") as running:
        yield running


def test_pressing_1_acknowledges_from_the_phone(herald: VoiceHerald) -> None:
    number = herald.trigger()
    calls = herald.settle()
    assert [c.to for c in calls] == [MARA]
    call = calls[0]
    assert call.error is None, call.error
    assert call.events[:4] == ["status:initiated", "status:ringing", "status:in-progress", "answered:human"]
    assert "pressed:1" in call.events and call.events[-1] == "status:completed"
    info = soundfile.info(io.BytesIO(call.audio[0]))
    assert info.samplerate == 8000 and info.duration <= 20.0 + 0.3
    with herald.runtime.sessions() as session:
        incident = service.get(session, number=number)
        assert incident.state == "acknowledged" and incident.acknowledged_by == "mara@example.com"
        row = session.query(Callout).one()
        assert (row.outcome, row.keys, row.status) == ("acknowledged", "1", "completed")
    kinds = [kind for kind, _ in herald.timeline(number)]
    assert "voice_call" in kinds and "acknowledged" in kinds
    assert ("acknowledged", "Acknowledged by mara@example.com via phone") in herald.timeline(number)


UNANSWERED = {  # the callee's script → the last status callback and what the timeline says of it
    "busy": ("status:busy", "the line was busy"),
    "no-answer": ("status:no-answer", "nobody answered"),
    "failed": ("status:failed", "the call failed"),
    "listen": ("status:completed", "answered but no key was pressed"),
    "machine": ("status:completed", "voicemail answered (message left, NOT acknowledged)"),
}

THREE_LEVELS = CONFIG.replace(
    "    - {level: 2, user: bob@example.com, wait: 5m}\n",
    "    - {level: 2, user: bob@example.com, wait: 5m}\n    - {level: 3, user: li@example.com, wait: 5m}\n",
)


@pytest.mark.parametrize("script", list(UNANSWERED))
def test_an_unanswered_call_moves_the_escalation_to_the_next_level_now(
    database_url: str, tmp_path: Path, script: str
) -> None:
    last_status, said = UNANSWERED[script]
    with voice_herald(
        database_url, tmp_path, telephony_simulated_script=f"listen;{MARA}={script};{BOB}=press:1"
    ) as herald:
        number = herald.trigger()
        calls = herald.settle()  # the fake clock never moves: level 1's 5 minutes are not waited out
        assert [(c.to, c.events[-1]) for c in calls] == [(MARA, last_status), (BOB, "status:completed")]
        assert all(c.error is None for c in calls), [c.error for c in calls]
        with herald.runtime.sessions() as session:
            incident = service.get(session, number=number)
            assert incident.acknowledged_by == "bob@example.com"
            pages = escalation.notifications_of(session, incident=incident)
            mara = [(n.status, n.error) for n in pages if (n.channel, n.target) == ("voice", "Mara Lindqvist")]
            assert mara == [("failed", f"{said} ({MARA})")]
        messages = [m for _, m in herald.timeline(number)]
        assert f"voice to Mara Lindqvist failed: {said} ({MARA}); moving on to the next level now" in messages
        assert [m for m in messages if m.startswith("Escalated now")] == [
            "Escalated now to level 2 by herald via phone"
        ]


def test_a_repeated_final_callback_moves_the_escalation_once(database_url: str, tmp_path: Path) -> None:
    with voice_herald(database_url, tmp_path, telephony_simulated_script=f"listen;{MARA}=no-answer") as herald:
        herald.phone.background = False
        number = herald.trigger()
        herald.settle(rounds=2)
        herald.phone.play(herald.phone.calls[0])
        for status in ("no-answer", "completed", "no-answer"):  # the provider retrying, or sending both
            assert _status_callback(herald, herald.phone.calls[0], status).status_code == 204
        herald.settle(rounds=3)
        assert [c.to for c in herald.phone.calls] == [MARA, BOB]
        assert _level(herald, number) == 1
        assert _escalated(herald, number) == ["Escalated now to level 2 by herald via phone"]
        assert len([m for _, m in herald.timeline(number) if m.startswith("voice to Mara Lindqvist failed")]) == 1


def test_a_late_report_does_not_skip_the_level_its_timer_reached(database_url: str, tmp_path: Path) -> None:
    """Mara's call rings on past level 1's wait; the level-2 post is out when her call ends unanswered."""
    config = THREE_LEVELS.replace(
        "{level: 1, user: mara@example.com, wait: 5m}", "{level: 1, user: mara@example.com, wait: 1m}"
    ).replace("{level: 2, user: bob@example.com, wait: 5m}", '{level: 2, slack_channel: "#inc-tts-prod", wait: 5m}')
    with voice_herald(
        database_url, tmp_path, config=config, telephony_simulated_script=f"listen;{MARA}=no-answer"
    ) as herald:
        herald.phone.background = False
        number = herald.trigger()
        herald.settle(rounds=2)
        herald.clock.advance(61)
        herald.settle(rounds=2)
        assert _level(herald, number) == 1
        herald.phone.play(herald.phone.calls[0])
        herald.settle(rounds=2)
        assert [c.to for c in herald.phone.calls] == [MARA]  # Li (level 3) is not called 4 minutes early
        assert _level(herald, number) == 1 and _escalated(herald, number) == []
        messages = [m for _, m in herald.timeline(number)]
        assert (
            f"voice to Mara Lindqvist failed: nobody answered ({MARA}); the escalation has moved on since" in messages
        )


def test_the_last_unanswered_call_of_a_level_moves_it_on(database_url: str, tmp_path: Path) -> None:
    config = THREE_LEVELS.replace(
        "- {level: 2, user: bob@example.com, wait: 5m}", "- {level: 1, user: bob@example.com, wait: 5m}"
    )
    with voice_herald(
        database_url, tmp_path, config=config, telephony_simulated_script=f"listen;{MARA}=busy;{BOB}=no-answer"
    ) as herald:
        herald.phone.background = False
        number = herald.trigger()
        herald.settle(rounds=2)
        mara, bob = herald.phone.calls
        herald.phone.play(mara)
        assert _escalated(herald, number) == []
        herald.phone.play(bob)
        assert _escalated(herald, number) == ["Escalated now to level 2 by herald via phone"]
        herald.settle(rounds=2)
        assert [c.to for c in herald.phone.calls] == [MARA, BOB, LI]
        assert _level(herald, number) == 1
        messages = [m for _, m in herald.timeline(number)]
        assert (
            f"voice to Mara Lindqvist failed: the line was busy ({MARA}); other pages of level 1 are still under way"
            in messages
        )
        assert f"voice to Bob Berg failed: nobody answered ({BOB}); moving on to the next level now" in messages


def _level(herald: VoiceHerald, number: int) -> int:
    with herald.runtime.sessions() as session:
        view = escalation.escalation_of(session, incident=service.get(session, number=number))
        assert view is not None
        return view.level


def _escalated(herald: VoiceHerald, number: int) -> list[str]:
    return [m for _, m in herald.timeline(number) if m.startswith("Escalated now")]


def _status_callback(herald: VoiceHerald, call: SimulatedCall, status: str) -> httpx.Response:
    """A final status callback for `call`, signed as the provider signs it."""
    secret = derive_secret(herald.runtime.settings.api_token.get_secret_value(), "simulated-telephony")
    url = call.request.status_url
    form = {"CallSid": call.sid, "CallStatus": status, "To": call.to}
    return herald.client.post(url, data=form, headers={"X-Twilio-Signature": sign(secret, url, form.items())})


def test_voicemail_gets_a_message_that_says_not_acknowledged(database_url: str, tmp_path: Path) -> None:
    with voice_herald(database_url, tmp_path, telephony_simulated_script=f"listen;{MARA}=machine") as herald:
        number = herald.trigger()
        calls = herald.settle()
        assert calls[0].events[3] == "answered:machine_end_beep" and "pressed:1" not in calls[0].events
        assert len(calls[0].audio) == 1  # the voicemail message, no menu
        with herald.runtime.sessions() as session:
            row = session.query(Callout).filter(Callout.phone == MARA).one()
            assert row.outcome == "machine"
            assert "did NOT acknowledge" in _clip_text(session, row, calls[0])
        messages = [m for _, m in herald.timeline(number)]
        assert any("Voicemail answered" in m and "NOT acknowledged" in m for m in messages)


def _clip_text(session, row: Callout, call) -> str:
    return " ".join(clip.text for clip in session.query(VoiceClip) if clip.phone_wav in call.audio)


def test_incidents_paging_one_person_within_a_minute_share_one_call(herald: VoiceHerald) -> None:
    herald.phone.background = False  # the phone rings until the test lets it be answered
    first = herald.trigger("GPU memory at 100 %")
    herald.settle(rounds=2)
    herald.clock.advance(20)
    second = herald.trigger("p95 latency above 1.2 s")
    herald.settle(rounds=2)
    assert len(herald.phone.calls) == 1
    herald.phone.play(herald.phone.calls[0])
    call = herald.phone.calls[0]
    assert call.error is None and "pressed:1" in call.events
    with herald.runtime.sessions() as session:
        assert {service.get(session, number=n).state for n in (first, second)} == {"acknowledged"}
        text = session.query(Callout).one().text
    assert "2 incidents" in text and "Press 1 to acknowledge all" in text
    assert any("one call covers #1, #2" in m for _, m in herald.timeline(second))


def test_forged_unsigned_and_stale_callbacks_are_refused(herald: VoiceHerald) -> None:
    herald.phone.background = False
    number = herald.trigger()
    herald.settle(rounds=2)
    request = herald.phone.calls[0].request
    form = {"CallSid": "CAforged", "CallStatus": "in-progress", "AnsweredBy": "human", "Digits": "1"}
    keys_url = request.answer_url.replace("/answer", "/keys")
    unsigned = herald.client.post(keys_url, data=form)
    forged = herald.client.post(keys_url, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert "signature" in forged.json()["reason"]
    secret = derive_secret(herald.runtime.settings.api_token.get_secret_value(), "simulated-telephony")
    herald.clock.advance(2 * 3600)  # the callback URL expired an hour after the call was placed
    stale = herald.client.post(
        keys_url, data=form, headers={"X-Twilio-Signature": sign(secret, keys_url, form.items())}
    )
    assert stale.status_code == 403 and "stale" in stale.json()["reason"]
    tampered = keys_url.replace("exp=", "exp=9")
    retimed = herald.client.post(
        tampered, data=form, headers={"X-Twilio-Signature": sign(secret, keys_url, form.items())}
    )
    assert retimed.status_code == 403
    with herald.runtime.sessions() as session:
        assert service.get(session, number=number).state == "triggered"  # nothing was acknowledged


def test_audio_links_are_signed_and_expire(herald: VoiceHerald) -> None:
    herald.trigger()
    herald.settle()
    with herald.runtime.sessions() as session:
        key = session.query(Callout).first().clip_key
    url = herald.voice.links.audio_url(key)
    assert herald.client.get(url).headers["content-type"] == "audio/wav"
    assert herald.client.get(url.replace("sig=", "sig=0")).status_code == 403
    assert herald.client.get(url.split("&sig=")[0] + "&sig=" + "0" * 32).status_code == 403
    herald.clock.advance(3600)
    assert herald.client.get(url).status_code == 403
