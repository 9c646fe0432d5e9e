"""Slash commands through `/slack/events`: each command, thread and "only open one" fallbacks, ambiguity, usage
on bad input, and the permission rule, all answered ephemerally and landing on the timeline with the actor."""

from __future__ import annotations

import re

import pytest

from bot.config_apply import apply
from bot.errors import InvalidInput
from bot.incidents import service
from bot.slack.commands import parse_tts
from bot.voice.tts import SpeechOrder
from tests.bot.slack.conftest import ADMIN, OUTSIDER, STRANGER, message_of, open_incident, state_of
from tests.scenarios.escalation_harness import TEAM_CONFIG


def _last_entry(herald, number):
    with herald.runtime.sessions() as session:
        return service.get_with_timeline(session, number=number).timeline[-1]


def test_ack_by_number_lands_on_the_timeline_with_the_acting_user(herald, slack) -> None:
    number = open_incident(herald)
    answer = slack.command("/ack", str(number))
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert f"acknowledged incident #{number}" in answer.json()["text"]
    assert state_of(herald, number) == "acknowledged"
    entry = _last_entry(herald, number)
    assert (entry.kind, entry.actor, entry.source) == ("acknowledged", "Mara Lindqvist", "slack")


def test_resolve_with_number_and_note(herald, slack) -> None:
    number = open_incident(herald)
    answer = slack.command("/resolve", f"#{number} rolled back to v1.0.3")
    assert "resolved" in answer.json()["text"]
    entry = _last_entry(herald, number)
    assert entry.kind == "resolved" and entry.data == {"note": "rolled back to v1.0.3"}


def test_without_a_number_the_thread_names_the_incident(herald, slack) -> None:
    first = open_incident(herald, title="first")
    second = open_incident(herald, title="second")
    herald.run_outbox()
    row = message_of(herald, second)
    answer = slack.command("/ack", "", channel=row.channel, thread_ts=row.ts)
    assert f"#{second}" in answer.json()["text"]
    assert (state_of(herald, first), state_of(herald, second)) == ("triggered", "acknowledged")


def test_without_a_number_the_callers_only_open_incident_is_meant(herald, slack) -> None:
    number = open_incident(herald)
    open_incident(herald, title="billing down", service_name="billing", assignee=None)  # not Mara's
    answer = slack.command("/resolve", "false alarm")
    assert f"resolved incident #{number}" in answer.json()["text"]
    assert _last_entry(herald, number).data == {"note": "false alarm"}


def test_ambiguous_gives_a_list_to_choose_from(herald, slack) -> None:
    first, second = open_incident(herald, title="first"), open_incident(herald, title="second")
    open_incident(herald, title="billing down", service_name="billing", assignee=None)  # not a choice for Mara
    body = slack.command("/ack").json()
    assert "Which one" in body["text"]
    buttons = [b["accessory"] for b in body["blocks"] if "accessory" in b]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("herald_ack", str(first)), ("herald_ack", str(second))]
    assert state_of(herald, first) == state_of(herald, second) == "triggered"


def test_outsiders_are_refused_with_the_reason_and_admins_may(herald, slack) -> None:
    number = open_incident(herald)
    refusal = slack.command("/ack", str(number), user=OUTSIDER).json()
    assert refusal["response_type"] == "ephemeral"
    assert "only its responders, the on-call of team mlops, or Herald admins" in refusal["text"]
    assert state_of(herald, number) == "triggered"
    assert "acknowledged" in slack.command("/ack", str(number), user=ADMIN).json()["text"]


def test_unlinked_slack_users_are_told_how_to_get_linked(herald, slack) -> None:
    number = open_incident(herald)
    answer = slack.command("/ack", str(number), user=STRANGER).json()
    assert "not linked to a Herald user" in answer["text"]


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/ack", "1 2", "Usage: `/ack [number]`"),
        ("/ack", "forty-two", "Usage: `/ack [number]`"),
        ("/ack", "--help", "Usage: `/ack [number]`"),
        ("/incident", "", "Usage: `/incident list"),
        ("/incident", "explode 3", "unknown subcommand 'explode'"),
        ("/incident", "show", "an incident number is missing"),
        ("/incident", "new", "`new` needs a title"),
        ("/tts", "", "there is nothing to say"),
        ("/tts", "hello emotion=calm intensity=7", "intensity must be between 0 and 1"),
    ],
)
def test_bad_input_answers_with_usage(herald, slack, command: str, text: str, expected: str) -> None:
    answer = slack.command(command, text)
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert expected in answer.json()["text"]


def test_acting_twice_is_a_clear_conflict(herald, slack) -> None:
    number = open_incident(herald)
    slack.command("/resolve", str(number))
    assert f"incident #{number} is resolved; cannot acknowledge it" in slack.command("/ack", str(number)).json()["text"]
    assert "no incident #999" in slack.command("/ack", "999").json()["text"]


def test_incident_new_list_show_note_and_postmortem(herald, slack, fake) -> None:
    opened = slack.command("/incident", 'new "GPU OOM on tts pods" P1 tts-inference').json()["text"]
    assert "opened incident #1 (P1 on tts-inference)" in opened
    with herald.runtime.sessions() as session:
        incident = service.get(session, number=1)
        assert (incident.title, incident.severity, incident.service.name) == (
            "GPU OOM on tts pods",
            "P1",
            "tts-inference",
        )
    assert "Note added" in slack.command("/incident", "note 1 restarted pods").json()["text"]
    assert _last_entry(herald, 1).message == "restarted pods" and _last_entry(herald, 1).actor == "Mara Lindqvist"

    listing = slack.command("/incident", "list").json()
    assert "1 open incident(s)" in listing["text"] and "GPU OOM" in str(listing["blocks"])
    shown = slack.command("/incident", "show 1").json()
    assert "restarted pods" in str(shown["blocks"])
    assert "Preparing the post-mortem" in slack.command("/incident", "postmortem 1").json()["text"]

    herald.run_outbox()
    assert fake.named("chat.postMessage")[0].params["channel"] == "#inc-tts-prod"


def test_tts_text_and_options_are_parsed_into_a_speech_order() -> None:
    order = parse_tts('"Incident 42: p95 is 1.8 s" voice=mara emotion=urgent intensity=0.7 duration=1.25x')
    assert order == SpeechOrder(text="Incident 42: p95 is 1.8 s", voice="mara", emotion="urgent@0.7", duration="1.25x")
    assert parse_tts("hi emotion=0,0,0,0,0,0,0,1").emotion == "vector:0,0,0,0,0,0,0,1"
    assert parse_tts("hi duration=12s").duration == "12s"
    for bad in ("hi emotion=1,2", "hi duration=fast", 'unbalanced "quote', "hi duration=9x", "hi intensity=0.5"):
        with pytest.raises(InvalidInput):
            parse_tts(bad)


def test_incident_drill_opens_a_labelled_drill_on_the_services_real_path(herald, slack) -> None:
    refused = slack.command("/incident", "drill tts-inference").json()["text"]
    assert "has no escalation policy" in refused or "no service named" in refused
    with herald.runtime.transaction() as session:
        apply(session, clock=herald.clock, text=TEAM_CONFIG)
    started = slack.command("/incident", "drill tts-inference", trigger_id="second").json()["text"]  # not a replay
    number = int(re.search(r"#(\d+)", started).group(1))
    with herald.runtime.sessions() as session:
        drill = service.get(session, number=number)
        assert drill.is_drill and drill.title.startswith("DRILL") and drill.service.name == "tts-inference"
    assert "takes one service name" in slack.command("/incident", "drill").json()["text"]
