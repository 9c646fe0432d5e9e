"""A Herald runtime for escalation scenarios: seeded from a config file, time moved by hand, pages recorded.

`RecordingChannel` is a real `Channel` (the protocol edges implement) that keeps what it was asked to send, and can
be told to fail; the e-mail channel is tested against a real SMTP server elsewhere. Scenarios read like GoAlert's:
seed, advance the clock, tick, then assert exactly the pages expected and no others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import build_runtime
from bot.clock import FakeClock
from bot.config_apply import apply
from bot.escalation import wiring
from bot.escalation.runner import EngineRunner
from bot.incidents import service as incidents
from bot.incidents.states import Severity
from bot.notify.channels import DeliveryError, OutgoingMessage
from bot.notify.outbox import OutboxWorker, RetryPolicy
from bot.runtime import Runtime
from tests.support.herald import make_settings

START = datetime(2025, 11, 18, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Page:
    channel: str
    to: str
    kind: str
    incident: int | None
    drill: bool


@dataclass
class RecordingChannel:
    name: str
    sent: list[Page]
    failures: list[DeliveryError] = field(default_factory=list)

    def send(self, message: OutgoingMessage) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(Page(self.name, message.address, message.kind, message.incident_number, message.is_drill))
        return f"{self.name}-{message.notification_id}"


class Scenario:
    def __init__(self, database_url: str, config: str, *, start: datetime = START, **settings: Any) -> None:
        self.clock = FakeClock(start)
        values = {"smtp_host": "", "slack_default_channel": "#incidents"} | settings
        self.runtime: Runtime = build_runtime(make_settings(database_url, **values), self.clock)
        self.sent: list[Page] = []
        self.channels = {
            name: RecordingChannel(name, self.sent) for name in ("voice", "slack_dm", "slack_channel", "email")
        }
        for channel in self.channels.values():
            self.runtime.channels.register(channel)
        handlers = wiring.outbox_handlers(self.runtime, _no_http)
        self.outbox = OutboxWorker(self.runtime.sessions, self.clock, handlers, RetryPolicy(base_seconds=10))
        with self.runtime.transaction() as session:
            apply(session, clock=self.clock, text=config)

    @property
    def runner(self) -> EngineRunner:
        return self.runtime.extras["escalation"]

    def trigger(self, service: str | None, severity: str = "P1", title: str = "GPU memory at 100%") -> int:
        from sqlalchemy import select

        from bot.directory.models import Service

        with self.runtime.transaction() as session:
            svc = session.scalars(select(Service).where(Service.name == service)).one() if service else None
            incident = incidents.open_incident(
                session,
                clock=self.clock,
                events=self.runtime.events,
                title=title,
                severity=Severity(severity),
                service=svc,
                group_key=f"g{self.clock.now().timestamp()}{title}",
                source="manual",
                actor="test",
            )
            number = incident.number
        self.run()
        return number

    def run(self) -> None:
        """Fire what is due and deliver what that queued (as the background loop would)."""
        for _ in range(10):
            fired = self.runner.engine.tick(self.clock.now())
            delivered = self.outbox.run_once(500)
            if not fired and not delivered:
                return

    def advance(self, minutes: float) -> list[Page]:
        """Move time forward minute by minute, running the engine; returns the pages sent meanwhile."""
        before = len(self.sent)
        end = self.clock.now() + timedelta(minutes=minutes)
        while self.clock.now() < end:
            self.clock.advance(min(timedelta(minutes=1), end - self.clock.now()))
            self.run()
        return self.sent[before:]

    def pages(self) -> list[Page]:
        taken, self.sent[:] = list(self.sent), []
        return taken

    def act(self, number: int, action: str, actor: str = "alice@company.com") -> None:
        with self.runtime.transaction() as session:
            incident = incidents.get(session, number=number, for_update=True)
            getattr(incidents, action)(
                session, clock=self.clock, events=self.runtime.events, incident=incident, actor=actor, source="api"
            )
        self.run()

    def timeline(self, number: int) -> list[tuple[str, str]]:
        with self.runtime.transaction() as session:
            return [(e.kind, e.message) for e in incidents.get_with_timeline(session, number=number).timeline]

    def close(self) -> None:
        self.runtime.engine.dispose()


def _no_http(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("no hooks in this scenario")


TEAM_CONFIG = """
users:
  - {email: alice@company.com, name: Alice, slack_id: UALICE, phone: "+15550100"}
  - {email: bob@company.com, name: Bob, slack_id: UBOB, phone: "+15550101"}
  - {email: carol@company.com, name: Carol, slack_id: UCAROL}
  - {email: dave@company.com, name: Dave}
teams:
  - name: sre
    email: sre-oncall@company.com
    slack_channel: "#sre"
    members: [carol@company.com]
escalation_policy:
  name: TTS Production On-Call
  rules:
    - {level: 1, user: alice@company.com, wait: 5m}
    - {level: 2, user: bob@company.com, wait: 10m}
    - {level: 3, team: sre-oncall@company.com}
services:
  - name: tts-inference
    team: sre
    slack_channel: "#inc-tts-prod"
    routing_keys: [index-tts-2.0-prod]
    escalation_policy: TTS Production On-Call
"""
