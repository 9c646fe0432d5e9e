"""The lessons from the peers' trackers: forgotten acks, throttles, merged pages, fallbacks, schedule targets across a
DST hand-off, and the auditor repairing a missing step."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from bot.escalation.models import EscalationStep, Notification
from bot.notify.channels import DeliveryError
from tests.scenarios.escalation_harness import TEAM_CONFIG, Page, Scenario


def test_forgotten_ack_reminds_the_acknowledger_then_returns_to_triggered(database_url: str) -> None:
    scenario = Scenario(database_url, TEAM_CONFIG, ack_timeout_minutes=30, ack_reminder_grace_minutes=5)
    try:
        number = scenario.trigger("tts-inference", "P1")
        scenario.pages()
        scenario.act(number, "acknowledge", actor="alice@company.com")
        assert scenario.advance(29) == []
        reminder = scenario.advance(1)
        assert reminder == [
            Page("voice", "+15550100", "ack_reminder", number, False),
            Page("slack_dm", "UALICE", "ack_reminder", number, False),
        ]
        assert scenario.advance(4) == []
        again = scenario.advance(1)  # back to triggered: the policy starts again at level 1
        assert [(p.to, p.kind) for p in again] == [("+15550100", "page"), ("UALICE", "page")]
        kinds = [kind for kind, _ in scenario.timeline(number)]
        assert "ack_timeout" in kinds and "unacknowledged" in kinds
    finally:
        scenario.close()


def test_calls_are_throttled_per_person_and_fall_back_visibly(database_url: str) -> None:
    scenario = Scenario(database_url, TEAM_CONFIG, ack_timeout_minutes=0, notify_throttle="voice=3/15m")
    try:
        numbers = [scenario.trigger("tts-inference", "P1", title=f"storm {i}") for i in range(4)]
        calls = [p for p in scenario.pages() if p.channel == "voice"]
        assert len(calls) == 3  # the fourth call to Alice within 15 minutes is refused
        with scenario.runtime.transaction() as session:
            throttled = session.scalars(select(Notification).where(Notification.error.like("throttled%"))).all()
            assert [(n.channel, n.status) for n in throttled] == [("voice", "failed")]
        messages = [m for _, m in scenario.timeline(numbers[-1])]
        assert any("throttled" in m for m in messages)
    finally:
        scenario.close()


def test_failed_call_falls_back_to_the_channel_after_the_dm(database_url: str) -> None:
    scenario = Scenario(database_url, TEAM_CONFIG, ack_timeout_minutes=0)
    scenario.channels["voice"].failures.append(DeliveryError("number not in service", permanent=True))
    try:
        number = scenario.trigger("tts-inference", "P1")
        pages = scenario.pages()
        # voice failed → Slack DM was already sent at this level → the incident's channel hears it.
        assert Page("slack_dm", "UALICE", "page", number, False) in pages
        assert Page("slack_channel", "#inc-tts-prod", "warning", number, False) in pages
        assert not any(p.channel == "voice" for p in pages)
        failures = [m for k, m in scenario.timeline(number) if "failed" in m]
        assert any("number not in service" in m and "falling back to slack_channel" in m for m in failures)
    finally:
        scenario.close()


def test_repeated_level_merges_with_a_still_pending_page(database_url: str) -> None:
    config = TEAM_CONFIG.replace(
        "    - {level: 2, user: bob@company.com, wait: 10m}\n", "    - {level: 2, user: alice@company.com, wait: 10m}\n"
    )
    scenario = Scenario(database_url, config, ack_timeout_minutes=0)
    del scenario.outbox._handlers["notify.voice"]  # no voice sender yet: calls stay recorded as due
    try:
        number = scenario.trigger("tts-inference", "P1")
        scenario.advance(5)
        with scenario.runtime.transaction() as session:
            calls = session.scalars(select(Notification).where(Notification.channel == "voice")).all()
        assert len(calls) == 1  # level 2 (Alice again) merged into the pending call
        assert any(kind == "notification_merged" for kind, _ in scenario.timeline(number))
    finally:
        scenario.close()


def test_schedule_target_follows_a_handoff_during_the_incident_across_dst(database_url: str) -> None:
    policy = """escalation_policy:
  name: TTS Production On-Call
  repeat: 1
  rules:
    - {level: 1, schedule: primary, wait: 15m}
"""
    head, _, rest = TEAM_CONFIG.partition("escalation_policy:")
    config = head + policy + "services:" + rest.partition("services:")[2]
    config += """schedules:
  - name: primary
    time_zone: Europe/Berlin
    layers:
      - {name: daily, rotation: daily, start: 2025-03-29T09:00, participants: [alice@company.com, bob@company.com]}
"""
    # Sunday 30 March 2025, 06:50 UTC = 08:50 CEST: Alice's turn, which ends at 09:00 CEST = 07:00 UTC (not 08:00).
    scenario = Scenario(database_url, config, start=datetime(2025, 3, 30, 6, 50, tzinfo=UTC), ack_timeout_minutes=0)
    try:
        number = scenario.trigger("tts-inference", "P1")
        assert {p.to for p in scenario.pages()} == {"+15550100", "UALICE"}
        assert {p.to for p in scenario.advance(15)} == {"+15550101", "UBOB"}  # the repeat at 07:05 UTC finds Bob
        levels = [m for kind, m in scenario.timeline(number) if kind == "escalation_level"]
        assert "notified Alice" in levels[0] and "notified Bob" in levels[1]
    finally:
        scenario.close()


def test_auditor_records_and_repairs_a_missing_step(database_url: str) -> None:
    scenario = Scenario(database_url, TEAM_CONFIG, ack_timeout_minutes=0)
    try:
        number = scenario.trigger("tts-inference", "P1")
        scenario.pages()
        with scenario.runtime.transaction() as session:
            session.execute(delete(EscalationStep).where(EscalationStep.status == "pending"))
        findings = scenario.runner.auditor.run(scenario.clock.now())
        assert [f.repaired for f in findings] == ["scheduled level 2 now"]
        scenario.run()
        assert [p.to for p in scenario.pages()] == ["+15550101", "UBOB"]
        assert any(kind == "audit_repair" for kind, _ in scenario.timeline(number))
        assert scenario.runner.auditor.run(scenario.clock.now()) == []
    finally:
        scenario.close()
