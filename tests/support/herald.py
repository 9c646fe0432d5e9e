"""A running Herald for tests: real app, real HTTP on loopback, a controllable clock, no background loop.

Tests drive time with `clock.advance()` and run the background work explicitly (`run_outbox()`), so nothing
depends on sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.app import create_app
from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.settings import Settings
from tests.support.server import serve

API_TOKEN = "test-api-token"
INTEGRATION_KEY = "test-integration-key"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "auto_migrate": False,
        "api_token": API_TOKEN,
        "integration_key": INTEGRATION_KEY,
        "outbox_backoff_base_seconds": 1.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningHerald:
    base_url: str
    runtime: Runtime
    clock: FakeClock
    client: httpx.Client

    def run_outbox(self) -> int:
        assert self.runtime.outbox is not None
        return self.runtime.outbox.run_once()


@contextmanager
def running_herald(settings: Settings, clock: FakeClock | None = None) -> Iterator[RunningHerald]:
    clock = clock or FakeClock()
    app = create_app(settings, clock, run_background=False)
    with (
        serve(app) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}, timeout=30
        ) as client,
    ):
        yield RunningHerald(base_url=base_url, runtime=app.state.runtime, clock=clock, client=client)
