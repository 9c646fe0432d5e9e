"""Voice callout timings: from the escalation step falling due to the call request reaching the phone provider,
with the audio pre-synthesised (goal < 2 s), and how long pre-synthesis of one call's summary takes.

Due → request: a Herald on loopback HTTP (SQLite) with a policy that phones Mara at level 1, and a fake Twilio
REST API on loopback that timestamps each create-call request on arrival. Per incident: it triggers, its
pre-synthesis job runs (not timed), then the timer starts, the escalation engine ticks (the level-1 step is due
now) and the outbox delivers the voice notification, which calls Twilio's Calls API; the timer stops when the
fake receives the request. Warm-up incidents are reported apart.

Pre-synthesis: the page message of that call rendered within the 20 s cap (`bot.voice.presynth.render`), with the
fallback voice (``--renders`` runs after a warm-up render), and with ``--model DIR`` with the IndexTTS-2 engine on
that folder, loaded as ``HERALD_TTS_MODEL_DIR`` would be (loading timed apart): the first render computes the
default voice's conditioning (the warm-up column), then ``--model-renders`` renders with it cached. The model's
engine gets no synthesis timeout here (``HERALD_TTS_TIMEOUT_SECONDS``, 120 s by default, would hand a full-size
CPU render to the fallback voice); a model render that the fallback voice spoke stops the bench.

Full size on a CPU: ``python bench/model_folder.py /tmp/indextts-full`` (random weights, every segment 1000 codes,
20 s), then ``--model /tmp/indextts-full``: the engine runs its exact mode there and one render takes minutes
(bench/results/callout.json), which is why pages never wait for it. Prints a table, then one line of JSON, writes
bench/results/callout.json.

    .venv/bin/python bench/callout.py [--incidents 20] [--warmup 3] [--renders 5] [--model DIR] [--model-renders 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe
from bot import migrate
from bot.settings import Settings
from bot.voice.presynth import render
from bot.voice.summary import IncidentFacts, Templates, VoiceStyle
from bot.voice.tts import LocalSpeech, build_engine
from tests.bot.voice.harness import voice_herald
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, fake_twilio
from tts_engine.engine import Engine

FACTS = IncidentFacts(
    number=42,
    severity="P1",
    state="triggered",
    what="p95 latency of POST /tts/synthesize above 1.2 s on 3 pods",
    since="15:02",
    alert_count=3,
    service="tts-inference",
)
MODEL_TIMEOUT_S = 24 * 3600.0  # the bench times the model's render; it must not fall back on a slow CPU


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


def presynth_row(name: str, engine: Engine, renders: int) -> dict[str, Any]:
    """One warm-up render of the page message, then ``renders`` timed ones; the model must have spoken them."""
    speech = LocalSpeech(engine)
    message = Templates(None).page([FACTS], "en", 20.0)
    style = VoiceStyle()
    first = render(speech, message, style)
    runs = [render(speech, message, style) for _ in range(renders)]
    if engine.model_dir is not None and not all(r.natural for r in (first, *runs)):
        raise SystemExit(f"{name}: the fallback voice spoke ({runs[-1].fallback_reason or first.fallback_reason})")
    seconds = [r.render_seconds for r in runs]
    return {
        "case": f"pre-synthesis, {name}",
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "warmup_s": first.render_seconds,
        "n": len(seconds),
        "audio_s": runs[-1].seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--model", type=Path, help="IndexTTS-2 model folder for the model pre-synthesis row")
    parser.add_argument("--model-renders", type=int, default=1, help="timed renders with the model (after one)")
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
    rows.append(presynth_row("fallback voice", build_engine(Settings(_env_file=None, data_dir=root)), args.renders))
    load_s = None
    if args.model:
        settings = Settings(
            _env_file=None, data_dir=root / "model", tts_model_dir=args.model, tts_timeout_seconds=MODEL_TIMEOUT_S
        )
        engine = build_engine(settings)
        started = time.perf_counter()
        if engine.load() is None:
            raise SystemExit(f"the model at {args.model} did not load: {engine.status().error}")
        load_s = time.perf_counter() - started
        rows.append(presynth_row("IndexTTS-2 model", engine, args.model_renders))
    if load_s is not None:
        print(f"model loaded in {load_s:.1f} s from {args.model}")
    print(f"{'case':<42} {'median s':>10} {'max s':>10} {'warm-up s':>10} {'n':>4}")
    for row in rows:
        warmup = f"{row['warmup_s']:.4f}" if row["warmup_s"] is not None else "-"
        print(f"{row['case']:<42} {row['median_s']:>10.4f} {row['max_s']:>10.4f} {warmup:>10} {row['n']:>4}")
    result = {
        "machine": describe("fastapi", "sqlalchemy", "httpx", "uvicorn"),
        "model": str(args.model) if args.model else None,
        "model_load_s": load_s,
        "goal_s": 2.0,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "callout.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
