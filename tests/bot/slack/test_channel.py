"""Slack as a notification channel: DMs with action buttons, channel posts, and Slack's errors sorted into
permanent (fall back now) and transient (retry)."""

from __future__ import annotations

import pytest

from bot.notify.channels import DeliveryError, OutgoingMessage
from bot.slack.bolt import make_client
from bot.slack.channel import SlackChannelPost, SlackDirectMessage
from tests.bot.slack.conftest import MARA, slack_settings


def _page(address: str, channel: str = "slack_dm") -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=1,
        idempotency_key="n1",
        channel=channel,
        address=address,
        recipient="Mara",
        kind="page",
        subject="P1 incident #42: <!here> p95 high",
        text="tts-inference p95 1.84s",
        incident_number=42,
        severity="P1",
    )


@pytest.fixture
def client(sqlite_url, tmp_path, fake):
    return make_client(slack_settings(sqlite_url, tmp_path, fake))


def test_direct_message_opens_the_conversation_and_offers_ack(client, fake) -> None:
    provider_id = SlackDirectMessage(client).send(_page(MARA))
    assert fake.named("conversations.open")[0].params["users"] == MARA
    post = fake.named("chat.postMessage")[0].params
    assert post["channel"].startswith("D") and provider_id.startswith(post["channel"] + "/")
    assert "<!here>" not in post["text"] + str(post["blocks"])
    actions = post["blocks"][-1]["elements"]
    assert [(a["action_id"], a["value"]) for a in actions][:2] == [("herald_ack", "42"), ("herald_resolve", "42")]


def test_channel_post_and_error_classes(client, fake) -> None:
    SlackChannelPost(client).send(_page("#inc-tts-prod", "slack_channel"))
    assert fake.named("chat.postMessage")[0].params["channel"] == "#inc-tts-prod"
    fake.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(DeliveryError) as refused:
        SlackChannelPost(client).send(_page("#gone", "slack_channel"))
    assert refused.value.permanent and "channel_not_found" in refused.value.reason
    fake.fail("chat.postMessage", "internal_error", times=3, status=500)  # outlasts slack_sdk's own retries
    with pytest.raises(DeliveryError) as down:
        SlackChannelPost(client).send(_page("#inc-tts-prod", "slack_channel"))
    assert not down.value.permanent
