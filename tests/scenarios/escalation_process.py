"""Real `herald serve` processes for the crash and multi-replica tests, with time moved through `HERALD_CLOCK_FILE`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.clock import FakeClock
from bot.config_apply import apply
from bot.db import make_engine, make_session_factory, transaction
from tests.support.herald import API_TOKEN
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
users:
{users}
teams:
  - name: sre
    slack_channel: "#sre"
    paging: {{loudness: {{P2: [email]}}}}
escalation_policy:
  name: crash
  repeat: 1
  rules:
{rules}
services:
  - {{name: svc, team: sre, escalation_policy: crash}}
"""

PEOPLE = ["ana", "ben", "cat"]


def seed(database_url: str, start: datetime) -> None:
    users = "\n".join(f"  - {{email: {p}@company.com, name: {p}}}" for p in PEOPLE)
    rules = "\n".join(f"    - {{level: {i + 1}, user: {p}@company.com, wait: 5m}}" for i, p in enumerate(PEOPLE))
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as session:
        apply(session, clock=FakeClock(start), text=CONFIG.format(users=users, rules=rules))
    engine.dispose()


def expected_pages(numbers: list[int]) -> set[tuple[int, str, int]]:
    """(incident, person, round): each level notified once per round, two rounds (repeat: 1)."""
    return {(n, f"{p}@company.com", r) for n in numbers for p in PEOPLE for r in (0, 1)}


@dataclass
class HeraldProcess:
    database_url: str
    clock_file: Path
    smtp_port: int
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = os.environ | {
            "HERALD_DATABASE_URL": self.database_url,
            "HERALD_CLOCK_FILE": str(self.clock_file),
            "HERALD_SMTP_HOST": "127.0.0.1",
            "HERALD_SMTP_PORT": str(self.smtp_port),
            "HERALD_API_TOKEN": API_TOKEN,
            "HERALD_ESCALATION_POLL_SECONDS": "0.2",
            "HERALD_ESCALATION_SWEEP_SECONDS": "2",
            "HERALD_OUTBOX_POLL_SECONDS": "0.2",
            "HERALD_ACK_TIMEOUT_MINUTES": "0",
            "HERALD_LOG_LEVEL": "WARNING",
            "HERALD_SLACK_BOT_TOKEN": "",
            "HERALD_NOTIFY_THROTTLE": "email=10000/1m",  # many incidents page one person here
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"herald serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("herald serve did not become healthy")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def open_incident(self, title: str) -> int:
        response = httpx.post(
            f"{self.url}/api/v1/incidents",
            json={"title": title, "severity": "P2", "service": "svc"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["number"]


def set_time(clock_file: Path, when: datetime) -> None:
    tmp = clock_file.with_suffix(".tmp")
    tmp.write_text(when.isoformat())
    tmp.replace(clock_file)  # atomic: a reader never sees a half-written time


def advance(clock_file: Path, now: datetime, minutes: float) -> datetime:
    now += timedelta(minutes=minutes)
    set_time(clock_file, now)
    return now
