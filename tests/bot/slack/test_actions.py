"""Buttons of the incident message and `@Herald` in its thread, sent as Slack sends them (signed, real HTTP)."""

from __future__ import annotations

from bot.incidents import service
from tests.bot.slack.conftest import MARA, OUTSIDER, message_of, open_incident, state_of


def test_acknowledge_button_from_the_fixture_acks_and_the_message_follows(herald, slack, fake, fixtures_dir) -> None:
    number = open_incident(herald)
    herald.run_outbox()
    answer = slack.click("herald_ack", f"victorops:{number}", fixtures=fixtures_dir)
    assert answer.status_code == 200
    assert state_of(herald, number) == "acknowledged"
    with herald.runtime.sessions() as session:
        entry = service.get_with_timeline(session, number=number).timeline[-1]
    assert (entry.kind, entry.actor, entry.source) == ("acknowledged", "Mara Lindqvist", "slack")
    herald.run_outbox()
    update = fake.named("chat.update")[-1].params
    assert "ACKNOWLEDGED" in update["text"]
    elements = next(b for b in update["blocks"] if b["type"] == "actions")["elements"]
    assert "herald_ack" not in [e["action_id"] for e in elements]  # no Acknowledge button once acknowledged
    assert fake.responses == []  # the message itself shows the outcome


def test_resolve_button_by_an_outsider_is_refused_ephemerally(herald, slack, fake, fixtures_dir) -> None:
    number = open_incident(herald)
    slack.click("herald_resolve", str(number), user=OUTSIDER, fixtures=fixtures_dir)
    refusal = fake.wait_for(lambda f: f.responses)[0]
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "you may not resolve incident" in refusal["text"]
    assert state_of(herald, number) == "triggered"


def test_a_choice_from_the_which_one_list_replaces_the_list(herald, slack, fake, fixtures_dir) -> None:
    open_incident(herald, title="first")
    second = open_incident(herald, title="second")
    slack.click("herald_resolve", str(second), ephemeral=True, fixtures=fixtures_dir)
    answer = fake.wait_for(lambda f: f.responses)[0]
    assert answer["replace_original"] is True and f"resolved incident #{second}" in answer["text"]
    assert state_of(herald, second) == "resolved"


def test_escalate_now_pages_the_next_level_and_says_so(herald, slack, fake, fixtures_dir) -> None:
    policy = {
        "name": "tts",
        "rules": [{"level": 1, "user": "mara.lindqvist@example.com"}, {"level": 2, "user": "ada.admin@example.com"}],
    }
    assert herald.client.put("/api/v1/escalation-policies/tts", json=policy).status_code == 200
    assert herald.client.put("/api/v1/services/tts-inference/escalation-policy", json={"policy": "tts"}).is_success
    number = open_incident(herald)
    slack.click("herald_escalate", str(number), fixtures=fixtures_dir)
    assert f"Incident #{number} escalated: level 2" in fake.wait_for(lambda f: f.responses)[0]["text"]
    with herald.runtime.sessions() as session:
        entry = service.get_with_timeline(session, number=number).timeline[-1]
    assert (entry.kind, entry.actor, entry.source) == ("escalated", "Mara Lindqvist", "slack")


def test_escalate_without_a_policy_is_a_clear_refusal(herald, slack, fake, fixtures_dir) -> None:
    number = open_incident(herald)
    slack.click("herald_escalate", str(number), fixtures=fixtures_dir)
    assert "has no escalation policy to escalate along" in fake.wait_for(lambda f: f.responses)[0]["text"]


def test_mention_in_the_incident_thread_acts_on_that_incident(herald, slack, fake) -> None:
    open_incident(herald, title="first")
    second = open_incident(herald, title="second")
    herald.run_outbox()
    row = message_of(herald, second)
    assert slack.mention("resolve rolled back", thread_ts=row.ts, channel=row.channel).status_code == 200
    reply = fake.wait_for(lambda f: f.named("chat.postEphemeral"))[0].params
    assert reply["user"] == MARA and reply["thread_ts"] == row.ts and f"#{second}" in reply["text"]
    assert state_of(herald, second) == "resolved"
    slack.mention("note all clear", thread_ts=row.ts, channel=row.channel)
    fake.wait_for(lambda f: len(f.named("chat.postEphemeral")) == 2)
    with herald.runtime.sessions() as session:
        assert service.get_with_timeline(session, number=second).timeline[-1].message == "all clear"
