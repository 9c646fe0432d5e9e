"""The incident message: posted on trigger in the right channel, updated in place, the timeline in its thread,
and nothing lost or doubled while Slack is rate limiting or down."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.incidents import service
from bot.incidents.models import Incident
from bot.notify.outbox import OutboxMessage
from bot.slack.mirror import ALERT_SYNC_WINDOW, KIND
from tests.bot.slack.conftest import message_of, open_incident
from tests.fakes.slack import FakeSlack
from tests.support.alerts import post_pod_alerts
from tests.support.herald import RunningHerald


def _top_level(fake: FakeSlack):
    return [c for c in fake.named("chat.postMessage") if "thread_ts" not in c.params]


def _ack(herald: RunningHerald, number: int, actor: str = "Mara Lindqvist") -> None:
    with herald.runtime.transaction() as session:
        incident = service.get(session, number=number, for_update=True)
        service.acknowledge(
            session, clock=herald.clock, events=herald.runtime.events, incident=incident, actor=actor, source="api"
        )


def test_trigger_posts_one_message_in_the_team_channel_and_changes_update_it(herald, fake: FakeSlack) -> None:
    number = open_incident(herald)
    herald.run_outbox()
    posts = _top_level(fake)
    assert len(posts) == 1
    assert posts[0].params["channel"] == "#inc-tts-prod"  # the team's channel (the service has none)
    assert f"incident #{number}" in posts[0].params["text"]
    actions = next(b for b in posts[0].params["blocks"] if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == [
        "herald_ack",
        "herald_resolve",
        "herald_escalate",
        "herald_voice_summary",
    ]
    row = message_of(herald, number)
    assert row.channel == fake.channel_id("#inc-tts-prod") and row.ts == posts[0].params.get("ts", row.ts)

    _ack(herald, number)
    herald.run_outbox()
    updates = fake.named("chat.update")
    assert len(updates) == 1 and updates[0].params["ts"] == row.ts and updates[0].params["channel"] == row.channel
    assert "ACKNOWLEDGED" in updates[0].params["text"]
    thread = [c.params["text"] for c in fake.named("chat.postMessage") if c.params.get("thread_ts") == row.ts]
    assert sum("Acknowledged by Mara Lindqvist" in text for text in thread) == 1
    assert len(_top_level(fake)) == 1  # still the one message


def _pending_syncs(herald: RunningHerald) -> list[tuple[str, datetime]]:
    with herald.runtime.sessions() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == KIND, OutboxMessage.status == "pending")
        )
        return [(m.idempotency_key, m.next_attempt_at) for m in rows]


def _alert_count_shown(call) -> str:
    fields = next(b for b in call.params["blocks"] if b["type"] == "section" and "fields" in b)["fields"]
    return next(f["text"] for f in fields if f["text"].startswith("*Alerts*")).split("\n")[1]


def test_an_alert_storm_updates_the_message_once_per_window_and_a_state_change_at_once(
    herald, fake: FakeSlack, fixtures_dir: Path
) -> None:
    window = ALERT_SYNC_WINDOW.total_seconds()
    herald.clock.set(datetime.fromtimestamp((herald.clock.now().timestamp() // window + 1) * window, UTC))
    window_end = herald.clock.now() + ALERT_SYNC_WINDOW
    post_pod_alerts(herald.client, fixtures_dir, range(1))  # opens the incident: posted at once
    herald.run_outbox()
    assert len(_top_level(fake)) == 1 and _alert_count_shown(_top_level(fake)[0]) == "1"

    post_pod_alerts(herald.client, fixtures_dir, range(1, 8))  # seven webhooks join it: one sync, at the window's end
    [(key, due)] = _pending_syncs(herald)
    assert ":alerts:" in key and due == window_end
    herald.run_outbox()
    assert fake.named("chat.update") == []

    with herald.runtime.sessions() as session:
        number = session.scalars(select(Incident.number)).one()
    _ack(herald, number)  # a state change is not held back by the alerts' window
    herald.run_outbox()
    [update] = fake.named("chat.update")
    assert "ACKNOWLEDGED" in update.params["text"] and _alert_count_shown(update) == "8"

    herald.clock.set(window_end)
    herald.run_outbox()
    assert len(fake.named("chat.update")) == 1  # the window's sync found the message already current
    assert _pending_syncs(herald) == []

    ts = message_of(herald, number).ts
    thread = [c.params["text"] for c in fake.named("chat.postMessage") if c.params.get("thread_ts") == ts]
    alerts = [text for text in thread if "Alert firing" in text]
    assert len(alerts) == 2  # the first alert alone, then the seven that joined as one reply: five listed, two counted
    lines = alerts[1].split("\n")
    assert lines[0] == "*7 alert changes*" and len(lines) == 7 and lines[-1].startswith("… and 2 more")
    assert all("*alert* · Alert firing (P1)" in line for line in lines[1:6])
    assert thread[-2] == alerts[1] and "Acknowledged by Mara Lindqvist" in thread[-1]  # in the timeline's order


def test_service_channel_wins_and_default_channel_catches_the_rest(herald, fake: FakeSlack) -> None:
    open_incident(herald, title="no service", service_name=None)
    open_incident(herald, title="billing down", service_name="billing")
    herald.run_outbox()
    assert {c.params["channel"] for c in _top_level(fake)} == {"#incidents"}


def test_a_slack_outage_delays_the_mirror_and_loses_nothing(herald, fake: FakeSlack) -> None:
    number = open_incident(herald)
    fake.fail("chat.postMessage", "service_unavailable", times=1, status=503)  # one more than sdk retries below
    fake.fail("chat.postMessage", "service_unavailable", times=2, status=503)
    herald.run_outbox()
    assert message_of(herald, number).ts is None
    _ack(herald, number)  # a change while Slack is still down
    herald.clock.advance(60)
    herald.run_outbox()
    row = message_of(herald, number)
    assert row.ts is not None
    messages = _top_level(fake)
    assert len(messages) == 4  # 3 refused, then exactly one message
    assert "ACKNOWLEDGED" in messages[-1].params["text"]  # posted already in its current state
    thread = [c for c in fake.named("chat.postMessage") if c.params.get("thread_ts") == row.ts]
    assert sum("Acknowledged" in c.params["text"] for c in thread) == 1
    with herald.runtime.sessions() as session:
        statuses = {m.status for m in session.query(OutboxMessage).filter_by(kind="slack.sync")}
        kinds = [e.kind for e in service.get_with_timeline(session, number=number).timeline]
    assert statuses == {"sent"}
    assert "delivery_retry" in kinds  # the outage is visible on the timeline ...
    assert not any("delivery" in c.params["text"] for c in thread)  # ... but not echoed into Slack


def test_rate_limit_is_waited_out_by_the_slack_sdk_retry_handler(herald, fake: FakeSlack) -> None:
    number = open_incident(herald)
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    herald.run_outbox()
    assert len(_top_level(fake)) == 2  # the 429, then the retry after Retry-After
    assert message_of(herald, number).ts is not None


def test_outside_text_in_an_alert_cannot_ping_anyone(herald, fake: FakeSlack) -> None:
    open_incident(herald, title="<!channel> disk full <@U0ADMIN001> see <https://evil.example|docs> @here")
    herald.run_outbox()
    post = _top_level(fake)[0].params
    rendered = post["text"] + str(post["blocks"])
    for ping in ("<!channel>", "<@U0ADMIN001>", "<https://evil.example|docs>", "@here"):
        assert ping not in rendered
    assert "&lt;!channel&gt;" in rendered
    assert post["unfurl_links"] is False


def test_incidents_mirrored_from_victorops_look_the_same(herald, fake: FakeSlack) -> None:
    open_incident(herald, title="CRITICAL: p95 1.84s", source="victorops-mirror", external_id="42")
    herald.run_outbox()
    header = _top_level(fake)[0].params["blocks"][0]["text"]["text"]
    assert "VictorOps 42" in header
