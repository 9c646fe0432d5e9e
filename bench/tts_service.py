"""End-to-end speech service timings: a 3-sentence incident summary, first-audio latency and total time.

Rows: the fallback voice (espeak-ng) in-process and over HTTP (`herald tts serve` on loopback), and, with
``--model DIR``, the IndexTTS-2 pipeline in-process with a cold voice cache (conditioning computed) and a warm one
(conditioning read from memory). First audio is the time until the first segment arrives from `stream()` (over
HTTP, until the first chunk of `/v1/stream`); total is the whole `synthesize()` / `/v1/synthesize`. Each row is the
median of ``--runs`` runs after one warm-up run, reported separately (the warm-up includes library loading).

Full-size random weights need a GPU host (not available on the 2-core development machine); on CPU use the
conformance bundle's tiny model to time the service path itself: ``python bench/tts_service.py --model
../shared/indextts-conformance/model``. Prints a table, then one line of JSON, writes bench/results/tts_service.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import serve
from tts_engine.api import SynthesisRequest
from tts_engine.engine import Engine
from tts_engine.server import create_app
from tts_engine.voices import TensorCache, VoiceRegistry

SUMMARY = (
    "INC-4217 is open on tts-inference: p99 latency rose to 600ms at 03:12 UTC. "
    "Error rate is 2.5% on api-gateway since v1.1.0 was deployed to 10.0.3.17. "
    "Please acknowledge within 5m or Herald will page the secondary."
)


def _in_process(engine: Engine, request: SynthesisRequest) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        start = time.perf_counter()
        stream = engine.stream(request)
        next(stream)
        first = time.perf_counter() - start
        list(stream)
        return first, time.perf_counter() - start

    return run


def _http(client: httpx.Client) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        start = time.perf_counter()
        with client.stream("POST", "/v1/stream", json={"text": SUMMARY}) as response:
            chunks = response.iter_bytes()
            next(chunks)
            first = time.perf_counter() - start
            for _ in chunks:
                pass
        return first, time.perf_counter() - start

    return run


def _measure(name: str, run: Callable[[], tuple[float, float]], runs: int, reset: Callable[[], None] | None = None):
    _, warm_total = run()
    samples = []
    for _ in range(runs):
        if reset:
            reset()
        samples.append(run())
    return {
        "case": name,
        "warmup_total_s": round(warm_total, 4),
        "first_audio_s": round(statistics.median(s[0] for s in samples), 4),
        "total_s": round(statistics.median(s[1] for s in samples), 4),
    }


def machine() -> dict[str, object]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"platform": platform.platform(), "python": platform.python_version(), "commit": commit.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", type=Path, help="IndexTTS-2 model folder (adds the model rows)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    request = SynthesisRequest(text=SUMMARY, seed=1)
    rows = []

    fallback = Engine(voices=VoiceRegistry(root / "voices"))
    rows.append(_measure("fallback, in-process", _in_process(fallback, request), args.runs))
    with serve(create_app(fallback)) as url, httpx.Client(base_url=url, timeout=600) as client:
        rows.append(_measure("fallback, HTTP /v1/stream", _http(client), args.runs))

    if args.model:
        cache = TensorCache(None)
        model = Engine(voices=VoiceRegistry(root / "voices"), model_dir=args.model, cache=cache)
        clip = root / "voice.wav"
        rendered = fallback.synthesize(SynthesisRequest(text="Hello, this is the on-call voice of Herald."))
        soundfile.write(clip, np.asarray(rendered.samples), rendered.sample_rate)
        model.voices.add("bench", clip)
        voiced = SynthesisRequest(text=SUMMARY, voice="bench", seed=1)
        runs = max(1, args.runs // 2)
        rows.append(_measure("model, cold voice cache", _in_process(model, voiced), runs, reset=cache._memory.clear))
        rows.append(_measure("model, warm voice cache", _in_process(model, voiced), runs))
        assert cache.stats.memory_hits >= runs

    print(f"{'case':<30} {'first audio s':>14} {'total s':>10} {'warm-up s':>10}")
    for row in rows:
        print(f"{row['case']:<30} {row['first_audio_s']:>14.4f} {row['total_s']:>10.4f} {row['warmup_total_s']:>10.4f}")
    result = {"machine": machine(), "model": str(args.model) if args.model else None, "runs": args.runs, "rows": rows}
    out = Path(__file__).parent / "results" / "tts_service.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
