"""Slack as a notification channel for the escalation engine: direct messages and channel posts.

Implements `bot.notify.channels.Channel`. A page arrives already rendered; this module only escapes its text,
adds Acknowledge/Resolve buttons when it is about an incident (the same action ids as the incident message, so
the same handlers answer a click in a DM), and maps Slack's answers onto `DeliveryError`: a Slack error that
retrying cannot fix (unknown user, channel not found, not in channel) is permanent and falls back to the next
channel at once; rate limits, 5xx and network trouble are transient (slack_sdk has already retried them).
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.notify.channels import ChannelName, DeliveryError, OutgoingMessage
from bot.slack import blocks
from bot.slack.mirror import RETRYABLE


def render(message: OutgoingMessage) -> tuple[str, list[dict[str, Any]]]:
    drill = " _(drill)_" if message.is_drill else ""
    text = f"*{blocks.escape(message.subject)}*{drill}\n{blocks.escape(blocks.clip(message.text, 2500))}"
    rendered: list[dict[str, Any]] = [{"type": "section", "text": blocks.mrkdwn(text)}]
    if message.incident_number is not None and message.kind == "page":
        n = message.incident_number
        elements = [
            blocks.button("Acknowledge", blocks.ACK, n, "primary"),
            blocks.button("Resolve", blocks.RESOLVE, n),
            blocks.button("Play voice summary", blocks.VOICE, n),
        ]
        rendered.append({"type": "actions", "block_id": "page_actions", "elements": elements})
    return blocks.escape(message.subject), rendered


class _SlackChannel:
    name: str

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def send(self, message: OutgoingMessage) -> str | None:
        fallback, rendered = render(message)
        try:
            response = self._client.chat_postMessage(
                channel=self._conversation(message.address),
                text=fallback,
                blocks=rendered,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "")
            transient = exc.response.status_code == 429 or exc.response.status_code >= 500 or error in RETRYABLE
            raise DeliveryError(f"Slack refused: {error}", permanent=not transient) from None
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"Slack unreachable: {exc}") from None
        return f"{response['channel']}/{response['ts']}"

    def _conversation(self, address: str) -> str:
        return address


class SlackDirectMessage(_SlackChannel):
    """A DM to the Slack user id in `address` (the conversation is opened first, as Slack requires)."""

    name = ChannelName.SLACK_DM.value

    def _conversation(self, address: str) -> str:
        return self._client.conversations_open(users=address)["channel"]["id"]


class SlackChannelPost(_SlackChannel):
    """A post in the channel named or identified by `address`."""

    name = ChannelName.SLACK_CHANNEL.value
