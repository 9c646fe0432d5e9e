"""Three `herald serve` replicas on one PostgreSQL database and many incidents: every step is notified once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.smtp import smtp_server
from tests.scenarios.escalation_process import HeraldProcess, advance, expected_pages, seed, set_time

START = datetime(2025, 11, 18, 14, 0, tzinfo=UTC)


@pytest.mark.slow
def test_three_replicas_claim_each_step_once(postgres_factory, tmp_path: Path) -> None:
    database_url = postgres_factory.new()
    clock_file = tmp_path / "clock"
    set_time(clock_file, START)
    seed(database_url, START)
    with smtp_server() as smtp:
        replicas = [HeraldProcess(database_url, clock_file, smtp.port, tmp_path / f"r{i}.log") for i in range(3)]
        for replica in replicas:
            replica.start()
        try:
            numbers = [replicas[i % 3].open_incident(f"incident {i}") for i in range(30)]
            expected = expected_pages(numbers)
            now = START
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and len(smtp.received()) < len(expected):
                # 15 s of Herald time per 0.5 s: the outbox's 120 s delivery lease stays longer than a batch of sends
                # takes (compress time harder and a lease expires mid-send, which is a re-delivery by design).
                now = advance(clock_file, now, 0.25)
                time.sleep(0.5)
            time.sleep(2)  # let any straggler (a double send would be one) arrive
        finally:
            for replica in replicas:
                replica.stop()
        received = Counter((int(m["X-Herald-Incident"]), m["To"], m["Message-ID"]) for m in smtp.received())
        senders = {m["Message-ID"] for m in smtp.received()}
    per_person = Counter((number, to) for number, to, _ in received)
    assert len(received) == len(expected) == len(senders)
    assert set(received.values()) == {1}, "a page was sent twice"
    assert set(per_person.values()) == {2} and len(per_person) == 30 * 3
