"""Post-mortem export and report cost: how long each export format of the recorded outage takes, and a report over
many incidents.

    .venv/bin/python bench/postmortem.py [--incidents 2000]

Exports are rendered for one incident (the fixtures' tts-inference outage, replayed through ingestion and the
escalation engine on SQLite, as in tests/bot/postmortem); matplotlib dominates (the PNG and SVG charts). The report
runs over `--incidents` synthetic resolved incidents spread across 30 days. Prints a table, then one line of JSON,
and writes bench/results/postmortem.json. Warm-up (first render: imports, font cache, template compile) is reported
separately.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe
from bot.incidents.models import Incident
from bot.postmortem import service
from tests.bot.postmortem.conftest import RESOLVED, record_outage
from tests.support.databases import SqliteFactory

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def timed(work, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = SqliteFactory(Path(tempfile.mkdtemp())).new()
    recorded = record_outage(url, FIXTURES)
    runtime = recorded.scenario.runtime
    now = RESOLVED + timedelta(hours=1)
    with runtime.sessions() as session:
        facts = service.facts(session, number=recorded.number, now=now)

    warmup = timed(lambda: [service.export(facts, fmt) for fmt in service.FORMATS], 1)[0]
    results: dict[str, dict[str, float]] = {"warm-up (all formats, first time)": {"ms": warmup}}

    def load() -> None:
        with runtime.sessions() as session:
            service.facts(session, number=recorded.number, now=now)

    results["load + build facts"] = {"median_ms": statistics.median(timed(load, args.repeat))}
    for fmt in service.FORMATS:
        samples = timed(lambda fmt=fmt: service.export(facts, fmt), args.repeat)
        results[f"export {fmt}"] = {"median_ms": statistics.median(samples)}

    with runtime.transaction() as session:
        template = session.get(Incident, 1)
        for i in range(args.incidents):
            created = RESOLVED - timedelta(days=29, minutes=-i * 20)
            session.add(
                Incident(
                    number=1000 + i,
                    title=f"synthetic {i}",
                    severity="P2",
                    state="resolved",
                    service_id=template.service_id,
                    group_key=f"bench-{i}",
                    source="manual",
                    created_at=created,
                    updated_at=created,
                    acknowledged_at=created + timedelta(minutes=3),
                    resolved_at=created + timedelta(minutes=40),
                )
            )

    def report() -> None:
        with runtime.sessions() as session:
            service.report(session, start=RESOLVED - timedelta(days=30), end=now, now=now)

    results[f"report over {args.incidents + 1} incidents"] = {"median_ms": statistics.median(timed(report, 3))}
    recorded.scenario.close()

    print(f"{'step':45} {'ms':>10}")
    for name, figures in results.items():
        print(f"{name:45} {next(iter(figures.values())):10.1f}")
    result = {"benchmark": "postmortem", "machine": describe("matplotlib", "sqlalchemy"), "results": results}
    out = Path(__file__).parent / "results" / "postmortem.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
