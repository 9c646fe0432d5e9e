"""Web console: time to serve the incident list, its live-update JSON and an incident page, over real HTTP.

A Herald (the real app, in this process, uvicorn on loopback, SQLite) holds `--incidents` incidents, three notes
on each timeline; a signed-in browser (httpx with the session cookie) asks for each page `--requests` times
after `--warmup` unmeasured requests. The list shows the newest 200 incidents, as the page does. The figure the
console cares about is the live endpoint's p99: every open console polls it every 5 s. Prints a table, then one
line of JSON, and writes bench/results/console.json.

    .venv/bin/python bench/console.py [--incidents 2000] [--requests 50] [--warmup 5]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

PASSWORD = "bench password"


def seed(runtime: Any, incidents: int) -> None:
    from bot.incidents import service
    from bot.incidents.states import Severity
    from bot.web import auth

    with runtime.transaction() as session:
        auth.set_password(session, email="bench@example.com", password=PASSWORD, name="Bench", admin=True)
        for index in range(incidents):
            incident = service.open_incident(
                session,
                clock=runtime.clock,
                events=runtime.events,
                title=f"p95 latency high on pod {index}",
                severity=Severity.P1 if index % 3 else Severity.P2,
                service=None,
                group_key=f"bench:{index}",
                source="manual",
                actor="bench",
            )
            for n in range(3):
                service.add_note(
                    session,
                    clock=runtime.clock,
                    events=runtime.events,
                    incident=incident,
                    actor="bench",
                    source="bench",
                    text=f"note {n}",
                )


def measure(client: httpx.Client, path: str, requests: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        client.get(path).raise_for_status()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    from bot import migrate
    from bot.app import create_app
    from bot.settings import Settings
    from tests.support.server import serve

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        migrate.upgrade(url)
        settings = Settings(_env_file=None, database_url=url, auto_migrate=False, log_level="WARNING", smtp_host="")
        app = create_app(settings, run_background=False)
        seed(app.state.runtime, args.incidents)
        with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
            signed = client.post(
                "/console/login", data={"email": "bench@example.com", "password": PASSWORD, "csrf": token}
            )
            assert signed.status_code == 303
            pages = {
                "incident list (200 rows)": "/console/incidents?state=all",
                "live JSON (200 rows)": "/console/incidents/live?state=all",
                "incident page": f"/console/incidents/{args.incidents // 2}",
                "incident live JSON": f"/console/incidents/{args.incidents // 2}/live",
            }
            figures = {name: measure(client, path, args.requests, args.warmup) for name, path in pages.items()}

    print(f"Console over HTTP, SQLite, {args.incidents} incidents, {args.requests} requests each")
    print(f"{'page':<28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, row in figures.items():
        print(f"{name:<28}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['mean_ms']:>10}")
    result = {
        "area": "console",
        "machine": describe("fastapi", "uvicorn", "sqlalchemy", "jinja2"),
        "parameters": vars(args),
        "figures": figures,
    }
    out = ROOT / "bench" / "results" / "console.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
