"""Automation hooks: label matching, HMAC signing, and delivery through the outbox to a receiver that fails first."""

from __future__ import annotations

import hashlib
import hmac

import httpx
from sqlalchemy import select

from bot.escalation import hooks
from bot.escalation.models import EscalationStep
from bot.notify.outbox import OutboxMessage
from tests.fakes.hook_receiver import hook_receiver
from tests.scenarios.escalation_harness import TEAM_CONFIG, Scenario


def test_label_matching_by_value_and_regex() -> None:
    labels = {"alertname": "GPUMemoryHigh", "namespace": "tts-prod"}
    assert hooks.matches({"alertname": "GPUMemoryHigh"}, labels)
    assert hooks.matches({"namespace": "/tts-.*/"}, labels)
    assert not hooks.matches({"namespace": "/staging-.*/"}, labels)
    assert not hooks.matches({"pod": "x"}, labels)


def test_hook_is_signed_retried_and_every_attempt_is_on_the_timeline(database_url: str) -> None:
    with hook_receiver(fail_first=2) as receiver, httpx.Client(timeout=10) as client:
        config = (
            TEAM_CONFIG
            + f"""
hooks:
  - name: scale-up
    url: {receiver.url}
    secret: s3cret-for-hooks
    events: [triggered, resolved]
    match: {{alertname: GPUMemoryHigh}}
"""
        )
        scenario = Scenario(database_url, config)
        scenario.outbox._handlers[hooks.OUTBOX_KIND] = hooks.HookDelivery(
            scenario.runtime.sessions, scenario.clock, client.post
        )
        try:
            with scenario.runtime.transaction() as session:
                from bot.directory.models import Service
                from bot.incidents import service as incidents
                from bot.incidents.states import Severity

                svc = session.scalars(select(Service).where(Service.name == "tts-inference")).one()
                number = incidents.open_incident(
                    session,
                    clock=scenario.clock,
                    events=scenario.runtime.events,
                    title="GPU memory high",
                    severity=Severity.P2,
                    service=svc,
                    group_key="gpu",
                    source="alertmanager",
                    actor="am",
                    labels={"alertname": "GPUMemoryHigh"},
                ).number
                incidents.open_incident(
                    session,
                    clock=scenario.clock,
                    events=scenario.runtime.events,
                    title="disk",
                    severity=Severity.P2,
                    service=svc,
                    group_key="disk",
                    source="alertmanager",
                    actor="am",
                    labels={"alertname": "DiskFull"},
                )
            scenario.run()
            scenario.advance(2)  # backoff 10 s, then 20 s (the scenario runs once a minute)
            with scenario.runtime.transaction() as session:
                [message] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "hook")).all()
                assert message.status == "sent" and message.attempts == 3
                assert session.scalars(select(EscalationStep)).first() is not None
        finally:
            scenario.close()
    assert [a["status"] for a in receiver.attempts] == [503, 503, 200]
    first, last = receiver.attempts[0], receiver.attempts[-1]
    assert first["headers"]["x-herald-delivery"] == last["headers"]["x-herald-delivery"]
    signed = last["headers"]["x-herald-timestamp"].encode() + b"." + last["body"]
    expected = "sha256=" + hmac.new(b"s3cret-for-hooks", signed, hashlib.sha256).hexdigest()
    assert last["headers"]["x-herald-signature"] == expected
    assert last["json"]["event"] == "triggered" and last["json"]["incident"]["number"] == number
    kinds = [kind for kind, _ in scenario.timeline(number)]
    assert kinds.count("delivery_retry") == 2 and kinds.count("hook_delivered") == 1
