"""Slack ack latency: time from sending a signed request to `/slack/events` to Slack's answer (the ack).

Slack gives an app 3 seconds; Herald's goal is p99 < 100 ms. Each request really acknowledges a fresh incident:
signature check, replay guard, user lookup, permission check and the state change (one transaction, on SQLite
under `--requests` incidents) all happen before the ack, so this is the honest path, over real loopback HTTP
with uvicorn, and a fake Slack Web API behind it. Warm-up requests are reported apart. Prints a table, then one
line of JSON, and writes bench/results/slack.json.

    .venv/bin/python bench/slack.py [--requests 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe
from bot import migrate
from tests.bot.slack.conftest import SlackClient, open_incident, seed, slack_settings
from tests.fakes.slack import fake_slack
from tests.support.herald import running_herald

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"n": len(ordered), "p50_ms": q[49], "p99_ms": q[98], "max_ms": ordered[-1]}


def measure(send, numbers: list[int]) -> list[float]:
    samples = []
    for number in numbers:
        start = time.perf_counter()
        response = send(number)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.text}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    per_kind = args.requests + args.warmup
    with tempfile.TemporaryDirectory() as tmp, fake_slack() as fake:
        fake.add_user("U04LM7QX9RT", "mara.lindqvist@example.com", "mara.lindqvist")
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        with running_herald(slack_settings(url, Path(tmp), fake)) as herald:
            seed(herald)
            numbers = [open_incident(herald, title=f"bench {i}", group_key=f"g{i}") for i in range(2 * per_kind)]
            slack = SlackClient(herald, fake)
            command = lambda n: slack.command("/ack", str(n))  # noqa: E731
            button = lambda n: slack.click("herald_ack", str(n), fixtures=FIXTURES)  # noqa: E731
            results = {}
            for name, send, batch in (("/ack", command, numbers[:per_kind]), ("button", button, numbers[per_kind:])):
                warm = measure(send, batch[: args.warmup])
                results[name] = {
                    "warmup": percentiles(warm),
                    "measured": percentiles(measure(send, batch[args.warmup :])),
                }
    print(f"{'request':<8} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   (warm-up p50)")
    for name, figures in results.items():
        m = figures["measured"]
        print(
            f"{name:<8} {m['n']:>5} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f} {m['max_ms']:>8.1f}   "
            f"({figures['warmup']['p50_ms']:.1f})"
        )
    result = {
        "benchmark": "slack_ack_latency",
        "goal": "p99 < 100 ms",
        "machine": describe("slack_bolt", "slack_sdk", database="sqlite"),
        "results": results,
    }
    out = Path(__file__).parent / "results" / "slack.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
