"""Providers: Twilio's signature scheme (the fixture's worked example), its Calls API against a loopback fake,
refusals versus outages, and the simulated callee scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.voice.providers.base import CallRequest, ProviderRefused, ProviderUnavailable, sign, signature_matches
from bot.voice.providers.simulated import Script, parse_scripts
from bot.voice.providers.twilio import TwilioProvider
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, fake_twilio
from tests.support.server import free_port

GATHER_URL = "https://herald.example.com/twilio/voice/incident/42/gather"


def test_signature_matches_the_fixture_worked_example(fixtures_dir: Path) -> None:
    params = json.loads((fixtures_dir / "twilio" / "gather-callback.json").read_text())
    assert sign(AUTH_TOKEN, GATHER_URL, params.items()) == "YgIvlVOogkGi6auuLbHfFEh7p0s="
    assert signature_matches(AUTH_TOKEN, GATHER_URL, params.items(), "YgIvlVOogkGi6auuLbHfFEh7p0s=")
    with_port = GATHER_URL.replace(".com/", ".com:443/")
    assert signature_matches(AUTH_TOKEN, with_port, params.items(), "YgIvlVOogkGi6auuLbHfFEh7p0s=")
    assert not signature_matches(
        AUTH_TOKEN, GATHER_URL, {**params, "Digits": "2"}.items(), "YgIvlVOogkGi6auuLbHfFEh7p0s="
    )
    assert not signature_matches(AUTH_TOKEN, GATHER_URL, params.items(), None)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as running:
        yield running


def _provider(url: str) -> TwilioProvider:
    return TwilioProvider(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER, api_url=url)


REQUEST = CallRequest(
    to="+14155550117",
    answer_url="https://herald.example.com/voice/calls/t/answer?exp=1",
    status_url="https://herald.example.com/voice/calls/t/status?exp=1",
)


def test_create_call_sends_the_calls_api_form(twilio: FakeTwilio) -> None:
    placed = _provider(twilio.base_url).place_call(REQUEST)
    assert placed.status == "queued" and placed.sid.startswith("CA")
    form = twilio.created[0]
    assert (form.get("To"), form.get("From"), form.get("Url")) == ("+14155550117", FROM_NUMBER, REQUEST.answer_url)
    assert form.all("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]
    assert (form.get("MachineDetection"), form.get("Timeout")) == ("Enable", "30")


def test_a_refusal_is_permanent_and_an_outage_is_not(twilio: FakeTwilio) -> None:
    twilio.refuse_next()
    with pytest.raises(ProviderRefused, match="21211"):
        _provider(twilio.base_url).place_call(REQUEST)
    twilio.refuse_next(status=503, code=20500, message="Internal Server Error")
    with pytest.raises(ProviderUnavailable, match="503"):
        _provider(twilio.base_url).place_call(REQUEST)
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        _provider(f"http://127.0.0.1:{free_port()}").place_call(REQUEST)


def test_simulated_scripts() -> None:
    default, numbers = parse_scripts("listen;+15550100=press:1,3;+15550101=busy")
    assert default == Script("listen")
    assert numbers == {"+15550100": Script("press", ("1", "3")), "+15550101": Script("busy")}
    with pytest.raises(ValueError, match="press"):
        Script.parse("press:x")
    with pytest.raises(ValueError, match="unknown"):
        Script.parse("dance")
