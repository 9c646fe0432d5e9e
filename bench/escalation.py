"""Escalation engine under load: N active incidents with running policies, real clock, real APScheduler wake-ups.

For each backend (SQLite file, PostgreSQL), N incidents are opened through the incident service (each snapshots a
3-level policy), and the burst of N level-1 steps is fired (reported apart: seeding and catch-up). The N pending
level-2 steps are then spread uniformly over the next `--spread` seconds, as if the incidents had triggered at
different times (the only bench-specific write), and the engine runs as in `herald serve` (EngineRunner on a
BackgroundScheduler, poll 1 s, wake-up at the next due step) until all have fired; lateness is `fired_at - due_at`.
Then, with N escalations waiting on their 60-minute level, the process CPU time over an idle window gives the idle
CPU share. Goals: p99 lateness < 1 s, idle CPU < 5 %. Notifications are recorded as due (no channel is registered),
so the figure is the engine's, not a sender's.

    .venv/bin/python bench/escalation.py [--incidents 10000] [--spread 180] [--idle-seconds 20] [--backends ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from bench.machine import describe  # noqa: E402
from bot import migrate  # noqa: E402
from bot.app import build_runtime  # noqa: E402
from bot.config_apply import apply  # noqa: E402
from bot.directory.models import Service  # noqa: E402
from bot.escalation.models import EscalationStep  # noqa: E402
from bot.incidents import service as incidents  # noqa: E402
from bot.incidents.states import Severity  # noqa: E402
from bot.settings import Settings  # noqa: E402

CONFIG = """
users:
  - {email: a@bench.io, name: A, slack_id: UA}
  - {email: b@bench.io, name: B, slack_id: UB}
  - {email: c@bench.io, name: C, slack_id: UC}
teams:
  - {name: bench, slack_channel: "#bench", paging: {loudness: {P2: [slack_dm]}}}
escalation_policy:
  name: bench
  rules:
    - {level: 1, user: a@bench.io, wait: 1m}
    - {level: 2, user: b@bench.io, wait: 60m}
    - {level: 3, user: c@bench.io}
services:
  - {name: bench, team: bench, escalation_policy: bench}
"""


def database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    import psycopg

    name = f"herald_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def run(backend: str, count: int, spread: float, idle_seconds: float, workdir: Path) -> dict[str, Any]:
    url = database(backend, workdir)
    migrate.upgrade(url)
    settings = Settings(_env_file=None, database_url=url, smtp_host="", escalation_poll_seconds=1.0)
    runtime = build_runtime(settings)
    with runtime.transaction() as session:
        apply(session, clock=runtime.clock, text=CONFIG)
    runner = runtime.extras["escalation"]
    started = time.perf_counter()
    for first in range(0, count, 100):
        with runtime.transaction() as session:
            service = session.scalars(select(Service).where(Service.name == "bench")).one()
            for i in range(first, min(count, first + 100)):
                incidents.open_incident(
                    session,
                    clock=runtime.clock,
                    events=runtime.events,
                    title=f"bench {i}",
                    severity=Severity.P2,
                    service=service,
                    group_key=f"bench-{i}",
                    source="manual",
                    actor="bench",
                )
    seeding = time.perf_counter() - started
    started = time.perf_counter()
    runner.engine.tick(runtime.clock.now())  # a fixed instant: fires the burst of level-1 steps only
    catch_up = time.perf_counter() - started
    begin = runtime.clock.now() + timedelta(seconds=5)
    with runtime.transaction() as session:
        ids = session.scalars(
            select(EscalationStep.id).where(EscalationStep.status == "pending", EscalationStep.kind == "level")
        ).all()
        for index, step_id in enumerate(ids):
            due = begin + timedelta(seconds=spread * index / max(1, len(ids)))
            session.execute(update(EscalationStep).where(EscalationStep.id == step_id).values(due_at=due))
    scheduler = BackgroundScheduler(timezone="UTC")
    runner.install(scheduler)
    scheduler.start()
    deadline = time.monotonic() + spread + 600
    while time.monotonic() < deadline:
        time.sleep(2)
        with runtime.sessions() as session:
            fired = session.scalar(
                select(func.count()).where(EscalationStep.level == 1, EscalationStep.status == "done")
            )
        if fired >= len(ids):
            break
    with runtime.sessions() as session:
        rows = session.execute(
            select(EscalationStep.due_at, EscalationStep.fired_at).where(
                EscalationStep.level == 1, EscalationStep.status == "done"
            )
        ).all()
    late = sorted((fired - due).total_seconds() for due, fired in rows)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    time.sleep(idle_seconds)
    idle_cpu = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    scheduler.shutdown(wait=True)
    runtime.engine.dispose()
    if backend == "postgresql":
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    return {
        "backend": backend,
        "incidents": count,
        "seeding_seconds": round(seeding, 1),
        "burst_catch_up_seconds": round(catch_up, 1),
        "spread_seconds": spread,
        "steps_measured": len(late),
        "lateness_p50_s": round(statistics.median(late), 3) if late else None,
        "lateness_p99_s": round(late[int(0.99 * (len(late) - 1))], 3) if late else None,
        "lateness_max_s": round(late[-1], 3) if late else None,
        "idle_cpu_percent": round(100 * idle_cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=180.0)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            results.append(run(backend, args.incidents, args.spread, args.idle_seconds, Path(tmp)))
    header = ("incidents", "seed s", "burst s", "steps", "p50 s", "p99 s", "max s", "idle CPU %")
    print(f"{'backend':<11}" + "".join(f"{h:>10}" for h in header))
    for r in results:
        print(
            f"{r['backend']:<11}{r['incidents']:>10}{r['seeding_seconds']:>10}{r['burst_catch_up_seconds']:>10}{r['steps_measured']:>10}"
            f"{r['lateness_p50_s']!s:>10}{r['lateness_p99_s']!s:>10}{r['lateness_max_s']!s:>10}{r['idle_cpu_percent']:>10}"
        )
    report = {
        "machine": describe("sqlalchemy", "apscheduler", "psycopg"),
        "goals": {"lateness_p99_s": 1.0, "idle_cpu_percent": 5.0},
        "results": results,
    }
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "escalation.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
