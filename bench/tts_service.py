"""End-to-end speech service timings: a 3-sentence incident summary, first-audio latency and total time.

Rows: the fallback voice (espeak-ng) in-process and over HTTP (`herald tts serve` on loopback, `/v1/stream`), and,
with ``--model DIR``, the IndexTTS-2 model of that folder, loaded by the engine as ``HERALD_TTS_MODEL_DIR`` would
be: its loading time, then a cold voice (the first request: conditioning computed), a warm voice (conditioning
from the cache) in-process, and a warm voice over HTTP. First audio is the time until the first segment arrives
from `stream()` (over HTTP, until the first chunk of `/v1/stream`); total is until the last one. Fallback rows are
the median of ``--runs`` runs after one warm-up run, reported apart (it includes library loading); model rows
are ``--model-runs`` runs each (median), without a separate warm-up: on a CPU one request takes minutes. A row
whose audio came from the fallback voice when the model should have spoken stops the bench.

Full size on a CPU: ``python bench/model_folder.py /tmp/indextts-full`` writes a full-size folder with random
weights, then ``python bench/tts_service.py --model /tmp/indextts-full``. Random weights stop every segment after
the same 1000 codes (20 s of audio), and this summary's 124 tokens make two segments (99 + 25): 40 s of audio
where a trained voice would speak about 20, so the total is pessimistic and first audio (one 20 s segment) about
right. On a CPU the engine runs its exact mode (float32, 25 flow steps; it picks the fast mode on a GPU only),
so one request takes many minutes (bench/results/tts_service.json). The conformance bundle's tiny model
(``--model ../shared/indextts-conformance/model``) times the service path alone.
Prints a table, then one line of JSON, and writes bench/results/tts_service.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe
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
PCM16_BYTES = 2


@dataclass(frozen=True)
class Sample:
    """One request: seconds to the first audio and to the end, seconds of audio, and who spoke."""

    first_s: float
    total_s: float
    audio_s: float
    fallback: bool


def _in_process(engine: Engine, request: SynthesisRequest) -> Callable[[], Sample]:
    def run() -> Sample:
        start = time.perf_counter()
        stream = engine.stream(request)
        first_audio = next(stream)
        first = time.perf_counter() - start
        segments = [first_audio, *stream]
        total = time.perf_counter() - start
        audio_s = sum(len(a.samples) / a.sample_rate for a in segments)
        return Sample(first, total, audio_s, any(a.fallback for a in segments))

    return run


def _http(client: httpx.Client, body: dict[str, Any]) -> Callable[[], Sample]:
    def run() -> Sample:
        start = time.perf_counter()
        with client.stream("POST", "/v1/stream", json=body) as response:
            response.raise_for_status()
            chunks = response.iter_bytes()
            size = len(next(chunks))
            first = time.perf_counter() - start
            size += sum(len(chunk) for chunk in chunks)
            rate = int(response.headers["content-type"].split("rate=")[1].split(";")[0])
            fallback = response.headers.get("x-herald-fallback", "false") == "true"
        return Sample(first, time.perf_counter() - start, size / PCM16_BYTES / rate, fallback)

    return run


def _measure(
    name: str,
    run: Callable[[], Sample],
    runs: int,
    *,
    warmup: bool,
    model: bool = False,
    reset: Callable[[], None] | None = None,
) -> dict[str, Any]:
    warm_total = run().total_s if warmup else None
    samples = []
    for _ in range(runs):
        if reset:
            reset()
        samples.append(run())
        if model and samples[-1].fallback:
            raise SystemExit(f"{name}: the fallback voice spoke, not the model")
    return {
        "case": name,
        "warmup_total_s": round(warm_total, 4) if warm_total is not None else None,
        "first_audio_s": round(statistics.median(s.first_s for s in samples), 4),
        "total_s": round(statistics.median(s.total_s for s in samples), 4),
        "audio_s": round(samples[-1].audio_s, 3),
        "runs": runs,
    }


def model_rows(model_dir: Path, fallback: Engine, root: Path, runs: int) -> tuple[float, list[dict[str, Any]]]:
    """Load the folder's model, then cold voice, warm voice, warm voice over HTTP."""
    cache = TensorCache(None)
    model = Engine(voices=VoiceRegistry(root / "voices"), model_dir=model_dir, cache=cache)
    start = time.perf_counter()
    model.load()
    load_s = time.perf_counter() - start
    if model.status().model != "ready":
        raise SystemExit(f"the model at {model_dir} did not load: {model.status().error}")
    clip = root / "voice.wav"
    rendered = fallback.synthesize(SynthesisRequest(text="Hello, this is the on-call voice of Herald."))
    soundfile.write(clip, np.asarray(rendered.samples), rendered.sample_rate)
    model.voices.add("bench", clip)
    voiced = SynthesisRequest(text=SUMMARY, voice="bench", seed=1)
    cold = _in_process(model, voiced)
    rows = [
        _measure("model, cold voice cache", cold, runs, warmup=False, model=True, reset=cache._memory.clear),
        _measure("model, warm voice cache", _in_process(model, voiced), runs, warmup=False, model=True),
    ]
    with serve(create_app(model)) as url, httpx.Client(base_url=url, timeout=3600) as client:
        body = {"text": SUMMARY, "voice": "bench", "seed": 1}
        rows.append(_measure("model, warm voice, HTTP /v1/stream", _http(client, body), runs, warmup=False, model=True))
    assert cache.stats.memory_hits >= 2 * runs
    return load_s, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per fallback row (after one warm-up)")
    parser.add_argument("--model", type=Path, help="IndexTTS-2 model folder (adds the model rows)")
    parser.add_argument("--model-runs", type=int, default=1, help="runs per model row (no warm-up)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    request = SynthesisRequest(text=SUMMARY, seed=1)

    fallback = Engine(voices=VoiceRegistry(root / "voices"))
    rows = [_measure("fallback, in-process", _in_process(fallback, request), args.runs, warmup=True)]
    with serve(create_app(fallback)) as url, httpx.Client(base_url=url, timeout=600) as client:
        rows.append(_measure("fallback, HTTP /v1/stream", _http(client, {"text": SUMMARY}), args.runs, warmup=True))
    load_s = None
    if args.model:
        load_s, more = model_rows(args.model, fallback, root, args.model_runs)
        rows += more

    if load_s is not None:
        print(f"model loaded in {load_s:.1f} s from {args.model}")
    print(f"{'case':<36} {'first audio s':>14} {'total s':>10} {'audio s':>8} {'warm-up s':>10}")
    for row in rows:
        warmup = f"{row['warmup_total_s']:.4f}" if row["warmup_total_s"] is not None else "-"
        print(
            f"{row['case']:<36} {row['first_audio_s']:>14.4f} {row['total_s']:>10.4f} {row['audio_s']:>8.2f} "
            f"{warmup:>10}"
        )
    result = {
        "machine": describe("torch", "fastapi", "uvicorn"),
        "model": str(args.model) if args.model else None,
        "model_load_s": load_s,
        "runs": args.runs,
        "model_runs": args.model_runs if args.model else None,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "tts_service.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
