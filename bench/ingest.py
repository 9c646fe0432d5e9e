"""Alert ingestion throughput and latency through real HTTP with durable commits, against a bare endpoint.

Herald runs in its own process (uvicorn, the real app from `create_app`, system clock, Slack configured) on SQLite and
on PostgreSQL. Next to the integration routes the server gets one extra route, `POST /bench/bare`, on the same app,
middleware and server stack, that reads the body and answers 200: the ceiling of the stack. Each alert is an
Alertmanager webhook of one alert, in a storm over 100 groups with every tenth delivery a retry; Herald answers only
after the alert is committed (group commit, bot/ingestion/writer.py). The figure is the ratio of alerts/s to the bare
endpoint's requests/s, with p50/p99 latency as the sender sees it. Goal: ratio >= 50 %, p99 < 50 ms.

Requests in flight (`--concurrency`, default 32) shape the figure. Alertmanager runs every aggregation group in a
goroutine of its own that sends that group's webhooks itself (dispatch.go: `go ag.run(...)`), so a storm over 100
groups keeps tens of requests in flight. The group commit folds everything in flight into one transaction, and the
client is closed-loop, so the writer and the event loop take turns: a batch's fixed cost (on PostgreSQL six round
trips of about 0.3 ms: begin, locks, two lookups, the writes, commit) is shared by as many alerts as there are
requests in flight. With fewer in flight the ratio falls, most on PostgreSQL (on a 2-core Zen 4: about 40 % at 16,
about 52 % at 32). A comma-separated list (`--concurrency 16,32,64`) runs each level on fresh databases.

The two endpoints take turns in short rounds (bare, ingest, bare, ingest, ..., bare), and each round's ratio is taken
against the bare runs on either side of it: on a shared VM the speed of the same bare endpoint moved by 1.5x between
runs a minute apart, so one long run of each compared two different machines. The figure is the median round's
ratio, printed with the lowest and the highest. Beside it, the server process's CPU time per request (from /proc)
for each endpoint, which moves less with the neighbours' load than throughput does.

The load generator is a small asyncio HTTP/1.1 keep-alive client (hand-written: httpx's per-request overhead would
cap both endpoints at the same client-bound rate and hide the ratio). Warm-up requests are reported apart. Prints a
table, then one line of JSON, and writes bench/results/ingest.json.

    .venv/bin/python bench/ingest.py [--requests 4000] [--rounds 5] [--concurrency 32] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

KEY = "bench-key"
UNANSWERED_PORT = 9  # discard: the Slack API URL of the served Herald, which nothing calls
PG_ADMIN_DSN = os.environ.get("HERALD_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


# -- the server process ------------------------------------------------------------------------------------------


def serve(database_url: str, port: int) -> None:
    import uvicorn

    from bot.app import create_app
    from bot.settings import Settings

    # Slack is configured, as it is where Herald is deployed: the Slack mirror's subscriber writes its share of
    # every ingest transaction. Nothing answers at its API URL, and nothing calls it: the outbox/engine loops
    # (Slack, voice pre-synthesis, escalation ticks) are left out, as they share the process and would make the
    # figure depend on which of them have work, not on the ingest path being measured.
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        integration_key=KEY,
        log_level="WARNING",
        slack_bot_token="xoxb-bench",
        slack_api_url=f"http://127.0.0.1:{UNANSWERED_PORT}/api/",
    )
    app = create_app(settings, run_background=False)

    @app.post("/bench/bare")
    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"result": "success"})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the load generator ------------------------------------------------------------------------------------------


def storm(count: int, seed: int) -> list[bytes]:
    """`count` one-alert Alertmanager webhooks over 100 groups; every tenth is a retry of an earlier one. Each body has
    every field of Alertmanager's webhook v4, `fingerprint` included, as Alertmanager sends it."""
    from bot.ingestion.sources.alertmanager import fingerprint_of

    rng = random.Random(seed)
    bodies: list[bytes] = []
    run = uuid.uuid4().hex[:8]
    for n in range(count):
        if n % 10 == 9:
            bodies.append(bodies[rng.randrange(len(bodies))])
            continue
        group = {"alertname": f"Bench{n % 100}"}
        labels = {**group, "pod": f"{run}-{n}", "service": "bench", "severity": "critical"}
        alert = {
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": f"pod {n} of group {n % 100} is slow"},
            "startsAt": "2025-11-18T14:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.bench:9090/graph?g0.expr=bench_latency_seconds+%3E+1",
            "fingerprint": fingerprint_of(labels),
        }
        body = {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{group["alertname"]}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "herald",
            "groupLabels": group,
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.bench:9093",
            "alerts": [alert],
        }
        bodies.append(json.dumps(body).encode())
    return bodies


async def load(port: int, path: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Send every body once over `concurrency` keep-alive connections; returns (seconds, latencies in ms)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                body = queue.get_nowait()
                head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                start = time.perf_counter()
                status = await _response(reader)
                latencies.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def _response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


def summary(seconds: float, latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(max(latencies), 2),
    }


@dataclass
class Run:
    """One endpoint's share of a round: wall time, each request's latency, and the server's CPU time meanwhile."""

    seconds: float
    latencies: list[float]
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid`, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, path: str, bodies: list[bytes], concurrency: int, server_pid: int) -> Run:
    cpu = process_cpu_seconds(server_pid)
    seconds, latencies = asyncio.run(load(port, path, bodies, concurrency))
    return Run(seconds, latencies, process_cpu_seconds(server_pid) - cpu)


def pooled(runs: list[Run]) -> dict[str, float]:
    """Throughput and latency over every run together, with the server's CPU time per request."""
    requests = sum(len(run.latencies) for run in runs)
    return {
        **summary(sum(run.seconds for run in runs), [ms for run in runs for ms in run.latencies]),
        "server_cpu_us_per_request": round(1e6 * sum(run.cpu_seconds for run in runs) / requests, 1),
    }


def run_backend(name: str, database_url: str, args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    from bot import migrate
    from tests.support.server import free_port

    migrate.upgrade(database_url)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", database_url, str(port)], cwd=ROOT)
    path = f"/api/v1/integrations/alertmanager/{KEY}"
    size = args.requests // args.rounds
    bare_bodies, ingest_bodies = storm(size, seed=1), storm(size * args.rounds, seed=3)
    try:
        _wait_for(port)
        asyncio.run(load(port, "/bench/bare", bare_bodies[: args.warmup], concurrency))
        warm = summary(*asyncio.run(load(port, path, storm(args.warmup, seed=2), concurrency)))
        bare = [measure(port, "/bench/bare", bare_bodies, concurrency, server.pid)]
        ingest: list[Run] = []
        for start in range(0, len(ingest_bodies), size):
            ingest.append(measure(port, path, ingest_bodies[start : start + size], concurrency, server.pid))
            bare.append(measure(port, "/bench/bare", bare_bodies, concurrency, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratios = [
        run.per_second / ((before.per_second + after.per_second) / 2)
        for run, before, after in zip(ingest, bare, bare[1:], strict=False)
    ]
    bare_total, ingest_total = pooled(bare), pooled(ingest)
    return {
        "backend": name,
        "concurrency": concurrency,
        "bare": bare_total,
        "ingest_warmup": warm,
        "ingest": ingest_total,
        "ratio": round(statistics.median(ratios), 3),
        "ratio_rounds": [round(ratio, 3) for ratio in ratios],
        "cpu_ratio": round(bare_total["server_cpu_us_per_request"] / ingest_total["server_cpu_us_per_request"], 3),
    }


def _wait_for(port: int) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("Herald did not start")


def databases(backends: list[str], tmp: Path) -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    if "sqlite" in backends:
        found.append(("sqlite", f"sqlite:///{tmp / 'bench.db'}", None))
    if "postgresql" in backends:
        import psycopg

        name = f"herald_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        found.append(("postgresql", f"{base}/{name}", name))
    return found


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="ingested alerts, over every round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument(
        "--concurrency", default="32", help="requests in flight; a comma-separated list runs each, on fresh databases"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    results = []
    for concurrency in (int(level) for level in args.concurrency.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            for name, url, pg_name in databases(args.backends.split(","), Path(tmp)):
                try:
                    results.append(run_backend(name, url, args, concurrency))
                finally:
                    if pg_name:
                        import psycopg

                        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
                            connection.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')

    print(
        f"{'backend':<11} {'in flight':>9} {'endpoint':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'CPU us/req':>11}"
    )
    for result in results:
        backend = f"{result['backend']:<11} {result['concurrency']:>9}"
        for label in ("bare", "ingest"):
            row = result[label]
            print(
                f"{backend} {label:<8} {row['per_second']:>9} {row['p50_ms']:>8} "
                f"{row['p99_ms']:>8} {row['max_ms']:>8} {row['server_cpu_us_per_request']:>11}"
            )
        rounds = result["ratio_rounds"]
        print(
            f"{backend} ratio    {result['ratio']:.1%} of the bare endpoint, median of {len(rounds)} "
            f"rounds ({min(rounds):.1%} to {max(rounds):.1%}); by server CPU per request {result['cpu_ratio']:.1%} "
            f"(goal >= 50%, p99 < 50 ms)"
        )
    report = {
        "bench": "ingest",
        "machine": describe("fastapi", "uvicorn", "sqlalchemy", "psycopg"),
        "settings": vars(args),
        "results": results,
    }
    out = ROOT / "bench" / "results" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
