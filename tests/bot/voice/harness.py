"""A Herald on loopback whose public URL is its own address, so the simulated phone calls back into it over HTTP.

Seeded from a config file (users with phones and languages, a team, a voice escalation policy, a service); time
moves only when the test says; `settle()` runs what the background loop would (pre-synthesis, engine ticks, the
outbox) until simulated calls are over and nothing is left to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.app import create_app
from bot.clock import FakeClock
from bot.config_apply import apply
from bot.incidents import service as incidents
from bot.incidents.states import Severity
from bot.runtime import Runtime
from bot.voice.providers.simulated import SimulatedCall, SimulatedProvider
from bot.voice.wiring import Voice
from tests.support.herald import make_settings
from tests.support.server import free_port, serve

MARA, BOB, LI = "+14155550117", "+14155550118", "+14155550119"

CONFIG = f"""
users:
  - {{email: mara@example.com, name: Mara Lindqvist, slack_id: UMARA, phone: "{MARA}", time_zone: Europe/Stockholm}}
  - {{email: bob@example.com, name: Bob Berg, slack_id: UBOB, phone: "{BOB}"}}
  - {{email: li@example.com, name: Li Wei, phone: "{LI}", language: zh, time_zone: Asia/Shanghai}}
teams:
  - name: mlops
    slack_channel: "#inc-tts-prod"
    members: [mara@example.com, bob@example.com, li@example.com]
escalation_policy:
  name: mlops-voice
  rules:
    - {{level: 1, user: mara@example.com, wait: 5m}}
    - {{level: 2, user: bob@example.com, wait: 5m}}
services:
  - name: tts-inference
    team: mlops
    slack_channel: "#inc-tts-prod"
    routing_keys: [index-tts-2.0-prod]
    escalation_policy: mlops-voice
"""


@dataclass
class VoiceHerald:
    base_url: str
    runtime: Runtime
    clock: FakeClock
    client: httpx.Client

    @property
    def voice(self) -> Voice:
        return self.runtime.extras["voice"]

    @property
    def phone(self) -> SimulatedProvider:
        provider = self.voice.callouts.provider
        assert isinstance(provider, SimulatedProvider)
        return provider

    def trigger(self, title: str = "p95 latency of POST /tts/synthesize above 1.2 s", severity: str = "P1") -> int:
        from sqlalchemy import select

        from bot.directory.models import Service

        with self.runtime.transaction() as session:
            service = session.scalars(select(Service).where(Service.name == "tts-inference")).one()
            incident = incidents.open_incident(
                session,
                clock=self.clock,
                events=self.runtime.events,
                title=title,
                severity=Severity(severity),
                service=service,
                group_key=f"{title}:{self.clock.now().isoformat()}",
                source="manual",
                actor="test",
            )
            return incident.number

    def settle(self, rounds: int = 10) -> list[SimulatedCall]:
        """Pre-synthesise, tick, deliver and let simulated calls finish, until all is quiet."""
        for _ in range(rounds):
            busy = self.voice.presynth_worker.run_once()
            busy += self.runtime.extras["escalation"].engine.tick(self.clock.now())
            assert self.runtime.outbox is not None
            busy += self.runtime.outbox.run_once()
            finished = len([c for c in self.phone.calls if c.done.is_set() or not c.started.is_set()])
            self.phone.wait()
            if not busy and finished == len(self.phone.calls):
                break
        return list(self.phone.calls)

    def timeline(self, number: int) -> list[tuple[str, str]]:
        with self.runtime.sessions() as session:
            return [(e.kind, e.message) for e in incidents.get_with_timeline(session, number=number).timeline]


@contextmanager
def voice_herald(database_url: str, data_dir: Any, *, config: str = CONFIG, **overrides: Any) -> Iterator[VoiceHerald]:
    port = free_port()
    values = {"host": "127.0.0.1", "port": port, "data_dir": data_dir, "smtp_host": ""} | overrides
    settings = make_settings(database_url, **values)
    clock = FakeClock()
    app = create_app(settings, clock, run_background=False)
    runtime: Runtime = app.state.runtime
    with runtime.transaction() as session:
        apply(session, clock=clock, text=config)
    with (
        serve(app, port=port) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}
        ) as client,
    ):
        yield VoiceHerald(base_url, runtime, clock, client)
