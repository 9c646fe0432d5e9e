"""Voice callout timings: from the escalation step falling due to the call request reaching the phone provider,
with the audio pre-synthesised (goal < 2 s), and how long pre-synthesis of one call's summary takes.

Due → request: a Herald on loopback HTTP (SQLite) with a policy that phones Mara at level 1, and a fake Twilio
REST API on loopback that timestamps each create-call request on arrival. Per incident: it triggers, its
pre-synthesis job runs (not timed), then the timer starts, the escalation engine ticks (the level-1 step is due
now) and the outbox delivers the voice notification, which calls Twilio's Calls API; the timer stops when the
fake receives the request. Warm-up incidents are reported apart.

Pre-synthesis: the page message of that call rendered within the 20 s cap (`bot.voice.presynth.render`), with the
fallback voice, and with ``--model DIR`` with the IndexTTS-2 engine on that folder (full-size random weights are
the tts_engine benches' business; on the 2-core CPU host use a model folder you have, e.g. the conformance
bundle's tiny model, to time the path). Prints a table, then one line of JSON, writes bench/results/callout.json.

    .venv/bin/python bench/callout.py [--incidents 20] [--warmup 3] [--renders 5] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import migrate
from bot.settings import Settings
from bot.voice.presynth import render
from bot.voice.summary import IncidentFacts, Templates, VoiceStyle
from bot.voice.tts import LocalSpeech, build_engine
from tests.bot.voice.harness import voice_herald
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, fake_twilio

FACTS = IncidentFacts(
    number=42,
    severity="P1",
    state="triggered",
    what="p95 latency of POST /tts/synthesize above 1.2 s on 3 pods",
    since="15:02",
    alert_count=3,
    service="tts-inference",
)


def machine() -> dict[str, object]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "commit": commit.strip(),
        "versions": {name: version(name) for name in ("fastapi", "sqlalchemy", "httpx", "uvicorn")},
    }


def due_to_request(incidents: int, warmup: int, root: Path) -> tuple[list[float], list[float]]:
    database = f"sqlite:///{root / 'bench.db'}"
    migrate.upgrade(database)
    timings: list[float] = []
    with fake_twilio() as twilio:
        settings = {
            "telephony": "twilio",
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_from_number": FROM_NUMBER,
            "twilio_api_url": twilio.base_url,
        }
        with voice_herald(database, root, **settings) as herald:
            for index in range(warmup + incidents):
                number = herald.trigger(f"GPU memory at 100 % on node {index}")
                herald.voice.presynth_worker.run_once()
                before = len(twilio.created)
                started = time.perf_counter()
                herald.runtime.extras["escalation"].engine.tick(herald.clock.now())
                herald.runtime.outbox.run_once()
                assert len(twilio.created) == before + 1, "no call request reached the provider"
                timings.append(twilio.created[-1].received - started)
                herald.client.post(f"/api/v1/incidents/{number}/resolve").raise_for_status()
                herald.clock.advance(16 * 60)  # past the grouping window and the voice throttle (3 calls / 15 min)
    return timings[:warmup], timings[warmup:]


def presynth_seconds(speech: LocalSpeech, renders: int) -> tuple[float, list[float], float]:
    message = Templates(None).page([FACTS], "en", 20.0)
    style = VoiceStyle()
    warm = render(speech, message, style).render_seconds
    runs = [render(speech, message, style) for _ in range(renders)]
    return warm, [r.render_seconds for r in runs], runs[-1].seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--model", type=Path, help="IndexTTS-2 model folder for the model pre-synthesis row")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    warm, timed = due_to_request(args.incidents, args.warmup, root)
    rows = [
        {
            "case": "due → call request (pre-synthesised)",
            "median_s": statistics.median(timed),
            "max_s": max(timed),
            "warmup_s": statistics.mean(warm) if warm else None,
            "n": len(timed),
        }
    ]
    engines = [("fallback voice", None)] + ([("IndexTTS-2 model", args.model)] if args.model else [])
    for name, model_dir in engines:
        settings = Settings(_env_file=None, data_dir=root / name.replace(" ", "-"), tts_model_dir=model_dir)
        warm_s, runs, audio_s = presynth_seconds(LocalSpeech(build_engine(settings)), args.renders)
        rows.append(
            {
                "case": f"pre-synthesis, {name}",
                "median_s": statistics.median(runs),
                "max_s": max(runs),
                "warmup_s": warm_s,
                "n": len(runs),
                "audio_s": audio_s,
            }
        )
    print(f"{'case':<42} {'median s':>10} {'max s':>10} {'warm-up s':>10} {'n':>4}")
    for row in rows:
        warmup = f"{row['warmup_s']:.4f}" if row["warmup_s"] is not None else "-"
        print(f"{row['case']:<42} {row['median_s']:>10.4f} {row['max_s']:>10.4f} {warmup:>10} {row['n']:>4}")
    result = {"machine": machine(), "model": str(args.model) if args.model else None, "goal_s": 2.0, "rows": rows}
    out = Path(__file__).parent / "results" / "callout.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
