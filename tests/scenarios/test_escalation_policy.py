"""Escalation scenarios with a controllable clock: the issue's policy format walked level by level, ack during a
wait, resolve mid-policy, escalate-now, repeats, and the severity → loudness defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scenarios.escalation_harness import TEAM_CONFIG, Page, Scenario


@pytest.fixture
def scenario(database_url: str) -> Iterator[Scenario]:
    running = Scenario(database_url, TEAM_CONFIG, ack_timeout_minutes=0)
    yield running
    running.close()


def test_p1_walks_the_policy_written_in_the_issue_format(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference", "P1")
    assert scenario.pages() == [
        Page("voice", "+15550100", "page", number, False),
        Page("slack_dm", "UALICE", "page", number, False),
    ]
    assert scenario.advance(4) == []
    assert scenario.advance(1) == [
        Page("voice", "+15550101", "page", number, False),
        Page("slack_dm", "UBOB", "page", number, False),
    ]
    assert scenario.advance(9) == []
    # Level 3 is the team: it has no schedule, so its members; Carol has no phone, so Slack DM only.
    assert scenario.advance(1) == [Page("slack_dm", "UCAROL", "page", number, False)]
    kinds = [kind for kind, _ in scenario.timeline(number)]
    assert kinds.count("escalation_level") == 3 and "escalation_started" in kinds


def test_acknowledging_during_a_wait_stops_the_escalation(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference", "P1")
    scenario.pages()
    scenario.advance(3)
    scenario.act(number, "acknowledge")
    assert scenario.advance(60) == []
    with scenario.runtime.transaction() as session:
        from bot.escalation.models import Notification

        statuses = {(n.address, n.status) for n in session.query(Notification)}
    assert statuses == {("+15550100", "acknowledged"), ("UALICE", "acknowledged")}


def test_resolving_mid_policy_stops_it(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference", "P1")
    scenario.advance(5)
    assert len(scenario.pages()) == 4
    scenario.act(number, "resolve", actor="bob@company.com")
    assert scenario.advance(60) == []


def test_escalate_now_jumps_to_the_next_level_and_the_wait_restarts(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference", "P1")
    scenario.pages()
    scenario.advance(1)
    with scenario.runtime.transaction() as session:
        from bot.escalation import service

        service.escalate_now(
            session, lifecycle=scenario.runtime.extras["lifecycle"], number=number, actor="alice", source="api"
        )
    scenario.run()
    assert [p.to for p in scenario.pages()] == ["+15550101", "UBOB"]
    assert scenario.advance(9) == []  # level 2 waits its full 10 minutes from now
    assert [p.to for p in scenario.advance(1)] == ["UCAROL"]
    assert any(kind == "escalated" for kind, _ in scenario.timeline(number))


def test_repeat_walks_the_policy_again_then_says_it_is_spent(database_url: str) -> None:
    config = TEAM_CONFIG.replace("  name: TTS Production On-Call\n", "  name: TTS Production On-Call\n  repeat: 1\n")
    scenario = Scenario(database_url, config, ack_timeout_minutes=0)
    try:
        number = scenario.trigger("tts-inference", "P2")
        # P2: Slack DM + channel post + e-mail (e-mail is off here), per level.
        first = scenario.pages()
        assert {(p.channel, p.to) for p in first} == {("slack_dm", "UALICE"), ("slack_channel", "#inc-tts-prod")}
        scenario.advance(15 + 5)  # level 2, level 3, then the repeat starts after level 3's wait
        repeat = scenario.advance(0.5)
        scenario.advance(15)
        tail = scenario.advance(5 + 1)
        all_dms = [p.to for p in first + scenario.pages() + repeat + tail if p.channel == "slack_dm"]
        assert all_dms.count("UALICE") == 2 and all_dms.count("UBOB") == 2 and all_dms.count("UCAROL") == 2
        assert any(p.kind == "warning" and p.to == "#inc-tts-prod" for p in scenario.sent + tail)
        assert "escalation_exhausted" in [kind for kind, _ in scenario.timeline(number)]
    finally:
        scenario.close()


def test_p3_is_recorded_only_and_summarised_in_the_daily_digest(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference", "P3", title="disk 80% on build-7")
    assert scenario.advance(60) == []
    assert ("escalation_quiet") in [kind for kind, _ in scenario.timeline(number)]
    scenario.clock.advance(24 * 3600)
    scenario.runner.periodic.run(scenario.clock.now())
    scenario.run()
    digest = [p for p in scenario.pages() if p.kind == "digest"]
    assert digest == [Page("slack_channel", "#sre", "digest", None, False)]
    scenario.runner.periodic.run(scenario.clock.now())
    scenario.run()
    assert scenario.pages() == []  # once a day


def test_level_that_reaches_nobody_warns_and_moves_on_at_once(database_url: str) -> None:
    config = TEAM_CONFIG.replace("{level: 1, user: alice@company.com, wait: 5m}", "{level: 1, user: dave@company.com}")
    scenario = Scenario(database_url, config, ack_timeout_minutes=0)
    try:
        number = scenario.trigger("tts-inference", "P1")
        pages = scenario.pages()
        # Dave has no phone, no Slack id and e-mail is off: nobody. The team channel hears it and Bob is paged now.
        assert Page("slack_channel", "#inc-tts-prod", "warning", number, False) in pages
        assert {p.to for p in pages if p.kind == "page"} == {"+15550101", "UBOB"}
        levels = [m for kind, m in scenario.timeline(number) if kind == "escalation_level"]
        assert "Dave has no contact method" in levels[0]
    finally:
        scenario.close()


def test_drill_is_labelled_walks_the_real_path_and_has_no_sla(scenario: Scenario) -> None:
    from bot.escalation import service

    with scenario.runtime.transaction() as session:
        incident = service.start_drill(
            session,
            clock=scenario.clock,
            events=scenario.runtime.events,
            service="tts-inference",
            actor="t",
            source="cli",
        )
        number = incident.number
    scenario.run()
    assert scenario.pages() == [
        Page("voice", "+15550100", "page", number, True),
        Page("slack_dm", "UALICE", "page", number, True),
    ]
    scenario.advance(30)
    assert not any(kind == "sla_breached" for kind, _ in scenario.timeline(number))


def test_unacknowledged_p1_breaches_its_sla_once(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference", "P1")
    scenario.advance(4)
    assert not any(kind == "sla_breached" for kind, _ in scenario.timeline(number))
    scenario.advance(2)
    breaches = [m for kind, m in scenario.timeline(number) if kind == "sla_breached"]
    assert breaches == ["SLA breached: P1 not acknowledged within 5 min"]
    from prometheus_client import generate_latest

    metrics = generate_latest(scenario.runtime.metrics.registry).decode()
    assert 'herald_sla_breached_incidents{severity="P1"} 1.0' in metrics
