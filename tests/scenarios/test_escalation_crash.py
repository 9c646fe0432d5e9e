"""Kill a real `herald serve` with SIGKILL at random points of escalations and restart it: no page is missed and
none is sent twice.

Pages go out as e-mail to a real SMTP server on loopback; every e-mail carries the Message-ID derived from its
notification's key. The test checks the notification table (one row per expected page, each sent) and the distinct
pages received (exactly the expected set, each person twice per incident). A kill between the SMTP server's 250 and
our commit resends the same page with the same Message-ID (at-least-once delivery with an idempotency key: the
alternative, treating an unknown outcome as sent, could lose a page); such resends are counted and reported.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.smtp import smtp_server
from tests.scenarios.escalation_process import HeraldProcess, advance, expected_pages, seed, set_time

START = datetime(2025, 11, 18, 14, 0, tzinfo=UTC)


def _pages(messages: list) -> Counter:
    return Counter((int(m["X-Herald-Incident"]), m["To"], m["Message-ID"]) for m in messages)


@pytest.mark.slow
def test_sigkill_at_random_points_never_loses_or_repeats_a_page(database_url: str, tmp_path: Path) -> None:
    rng = random.Random(20251118)
    clock_file = tmp_path / "clock"
    set_time(clock_file, START)
    seed(database_url, START)
    kills = 0
    with smtp_server() as smtp:
        herald = HeraldProcess(database_url, clock_file, smtp.port, tmp_path / "herald.log")
        herald.start()
        try:
            numbers = [herald.open_incident(f"incident {i}") for i in range(4)]
            now = START
            for _ in range(36 * 4):  # 36 minutes in 15 s steps: three levels × 5 min × two rounds, and slack
                now = advance(clock_file, now, 0.25)
                time.sleep(rng.uniform(0.0, 0.5))
                if rng.random() < 0.1:
                    herald.kill()
                    kills += 1
                    herald.start()
            expected = expected_pages(numbers)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len({k[2] for k in _pages(smtp.received())}) < len(expected):
                now = advance(clock_file, now, 0.25)
                time.sleep(0.5)
        finally:
            herald.stop()
        received = _pages(smtp.received())
    per_person = Counter((number, to) for number, to, _ in received)
    assert kills >= 5
    assert len(received) == len(expected), f"{len(expected) - len(received)} page(s) missed"
    assert all(count == 2 for count in per_person.values()) and len(per_person) == len(numbers) * 3
    resends = sum(count - 1 for count in received.values())
    print(f"crash test: {kills} kill points, {len(received)} pages, 0 missed, 0 duplicate pages, {resends} resends")
    assert resends <= kills
    assert _notification_rows(database_url) == {(n, to, "sent"): 2 for n, to in per_person}


def _notification_rows(database_url: str) -> Counter:
    from sqlalchemy import select

    from bot.db import make_engine
    from bot.directory.models import User
    from bot.escalation.models import Notification
    from bot.incidents.models import Incident

    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Incident.number, User.email, Notification.status)
            .join(Incident, Incident.id == Notification.incident_id)
            .join(User, User.id == Notification.user_id)
            .where(Notification.kind == "page")
        ).all()
    engine.dispose()
    return Counter((number, email, status) for number, email, status in rows)
