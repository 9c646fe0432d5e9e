"""The app manifest declares exactly the commands Herald answers, one events URL, and the scopes they need."""

from __future__ import annotations

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yaml"


def test_every_manifest_command_is_answered_and_every_url_is_the_events_endpoint(herald, slack) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    commands = manifest["features"]["slash_commands"]
    assert {c["command"] for c in commands} == {"/ack", "/resolve", "/incident", "/oncall", "/tts"}
    for command in commands:
        answer = slack.command(command["command"], "help").json()
        assert answer["text"].startswith(f"Usage: `{command['command']}")
    settings = manifest["settings"]
    urls = {c["url"] for c in commands}
    urls |= {settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]}
    assert {u.split("://", 1)[1].split("/", 1)[1] for u in urls} == {"slack/events"}
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:write", "users:read.email", "app_mentions:read", "im:write"} <= scopes
