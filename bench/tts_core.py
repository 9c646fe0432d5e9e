"""The whole IndexTTS-2 engine at FULL size with random weights: per-stage and end-to-end timings, exact and fast.

Workload (the reference's, ``../shared/reference-timings.json``): a 4.27 s voice clip, 60 random text ids, exactly
200 codes (the stop code's bias is pushed down, as the reference forced ``min_new_tokens``) -> 344 mel frames ->
4.0 s of audio. Speed does not depend on the weights' values, so the networks are built on the meta device and
filled with random values (no model files needed).

For each mode the engine runs in a child process of its own (so each peak RSS is that mode's alone):

* ``cold``: a new voice (clip reading, both w2v-BERT passes, codec, mel, CAMPPlus, prompt condition, GPT
  conditioning) and then the segment — this first request also carries the warm-up of every kernel;
* ``warm``: a second request with the voice cached (the engine's normal state for a registered voice);
* ``beam 3``: warm, with deterministic beam search;
* ``stream``: warm, the text split into two segments; time to the first segment's audio and to the end.

Modes: ``exact`` (float32, 25 flow steps, guidance 0.7, within the conformance tolerances) and ``fast`` (on a CPU:
int8 GPT, bfloat16 DiT, bfloat16 BigVGAN convolutions, 10 flow steps without guidance, one w2v-BERT pass; on a
GPU: float16 DiT and BigVGAN, float32 GPT, whose decode is launch-bound there). The fast mode's deviation from
exact is measured on the same weights, voice, text and noise: the share of identical codes, and the mel L1
distance of the fast flow on the *exact* run's codes and latents (so it isolates the acoustic side; with random
weights the GPT's next-code distribution is nearly flat and int8 codes drift quickly, a pessimistic view). A
spectrogram picture of both paths is written next to the JSON.

Where the time goes (torch.profiler with shapes, CPU time, full size, on the reference's kind of machine: a 2-core
AMD EPYC Zen 4 with AVX-512 and avx512_bf16, no AMX; float32 peaks near 220 GFLOP/s on both cores, bfloat16 products at
about twice that). The reference spends half its time in s2mel, 25 DiT evaluations on a batch of two over prompt +
target frames (712 here). One float32 evaluation is ~1.23 s: products 64 % (oneDNN at 150-185 GFLOP/s), attention 17 %
(PyTorch's fused kernel at ~120 GFLOP/s; explicit products are slower in float32), the WaveNet head's k=5
convolutions 12 % (~205 GFLOP/s), element-wise work the rest. Exact mode therefore keeps float32 and removes waste
only: the prompt condition is projected once per sampling, the last transformer block and the per-frame head after
it run on the target frames plus the WaveNet halo (the prompt frames' velocity is discarded), rotary embedding is one
complex multiply, 1x1 convolutions are matrix products, AdaLN is one addcmul, gates run in place. In bfloat16 (fast
mode, one row: no guidance) an evaluation is ~0.32 s, its attention as explicit products (the fused kernel was 1.4x
slower in half precision). GPT decoding is bandwidth-bound: per code ~76 ms float32, of which the products take
~65 ms (31 GB/s; one large oneDNN product reaches 35.7 GB/s, a plain read 34), and ~29 ms int8, of which fbgemm's
dynamic int8 products take ~19 ms (25 GB/s). The alternatives measured on the 24 layers' products per code: oneDNN
int8 (`qlinear_pointwise`) 22 ms even without quantising the activation, 27 ms with it; weight-only int8
(`_weight_int8pack_mm`) 27 ms in bfloat16; PyTorch's int4 kernel (`_weight_int4pack_mm_for_cpu`, groups of 128) 17 ms,
11 % less than int8 for half the bytes, as its unpacking is the limit. BigVGAN (4 s of audio): dense convolutions ~3 s
float32 at the CPU's peak, half that in bfloat16; the anti-aliased SnakeBeta ~1.7 s of CPU since it runs in
channels-last layout with polyphase upsampling (it was ~2 s of wall time before, mostly PyTorch's slow transposed
depthwise path).
On two busy cores the two OpenMP threads wait for each other at every operation: a shared machine makes every
figure noisy, and GPT decoding up to 10x slower with two threads than with one.

Usage: ``python bench/tts_core.py [--size full|tiny] [--device auto|cpu|cuda] [--modes exact,fast]``.
``--size tiny`` runs the same code on the conformance bundle's tiny configuration (a smoke test, seconds).
Prints a table beside the reference figures, then one line of JSON; writes ``bench/results/tts_core.json`` and
``tts_core_fast_vs_exact.png`` (``tts_core_tiny.*`` for the smoke test, ``*_cuda.*`` for a GPU run).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe
from bench.random_weights import fill_random, random_emotion_matrices, random_network, w2v_bert_architecture
from tts_engine import audio
from tts_engine import pipeline as pipeline_module
from tts_engine.conditioning import VoiceConditioner
from tts_engine.config import ModelConfig, load_config, official_config
from tts_engine.flow import initial_noise
from tts_engine.generation import DecodingOptions
from tts_engine.networks.bigvgan import BigVGAN, BigVGANArgs
from tts_engine.networks.campplus import CAMPPlus, CampplusConfig
from tts_engine.networks.gpt import GptConfig, UnifiedVoice
from tts_engine.networks.semantic_codec import SemanticCodec, SemanticCodecConfig
from tts_engine.networks.w2v_bert import W2vBert, build_model
from tts_engine.pipeline import EXACT, FAST, FAST_GPU, Mode, Pipeline, Request, Segment, VoicePrompt
from tts_engine.s2mel import S2Mel

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_MODEL = ROOT / ".." / "shared" / "indextts-conformance" / "model"
REFERENCE_TIMINGS = ROOT / ".." / "shared" / "reference-timings.json"
RESULTS = ROOT / "bench" / "results"
# size -> (clip seconds, text ids, codes); "full" is the reference workload.
WORKLOADS = {"full": (4.268390022675737, 60, 200), "tiny": (1.5, 12, 20)}
# Our stage names grouped as the reference's summary groups them.
SUMMARY = {
    "w2v_bert (both passes, incl. feature extractor)": ("w2v_bert",),
    "other front-end (resample, mel, fbank+CAMPPlus, codec, prompt regulator)": (
        "read_clips",
        "resample",
        "mel",
        "fbank_campplus",
        "codec_quantize",
        "length_regulator_prompt",
    ),
    "gpt conditioning (speaker latents, emotion vectors)": ("gpt_conditioning",),
    "gpt_generate": ("gpt_generate",),
    "gpt_forward": ("gpt_forward",),
    "s2mel (vq2emb, gpt_layer, regulator, flow)": ("s2mel",),
    "bigvgan": ("bigvgan",),
}
REFERENCE_SUMMARY_KEYS = {
    "w2v_bert (both passes, incl. feature extractor)": (
        "w2v_bert (both passes: speaker + emotion, incl. feature extractor)"
    ),
    "other front-end (resample, mel, fbank+CAMPPlus, codec, prompt regulator)": (
        "other front-end (resample, mel, fbank+CAMPPlus, codec quantize, prompt length regulator)"
    ),
    "gpt conditioning (speaker latents, emotion vectors)": "gpt conditioning (merge_emovec)",
    "gpt_generate": "gpt_generate (200 tokens, incl. speaker conditioning)",
    "gpt_forward": "gpt_forward",
    "s2mel (vq2emb, gpt_layer, regulator, flow)": "s2mel (25 steps, cfg 0.7, 711 frames incl. prompt)",
    "bigvgan": "bigvgan",
}


# -- random networks ------------------------------------------------------------------------------------------


def random_pipeline(cfg: ModelConfig, mode: Mode, device: torch.device, seed: int) -> Pipeline:
    """Every network of the engine at ``cfg``'s sizes with random weights, prepared for ``mode``."""
    generator = torch.Generator().manual_seed(seed)

    def build(factory: Callable[[], nn.Module]) -> Any:
        return random_network(factory, generator)

    hf_config, extractor = w2v_bert_architecture(cfg)
    hf_config.num_hidden_layers = cfg.constants.w2v_hidden_layer  # the layers after it are never run
    w2v_model = build_model(hf_config)
    fill_random(w2v_model, generator)
    width = hf_config.hidden_size
    w2v_bert = W2vBert(w2v_model.eval(), extractor, torch.zeros(width), torch.ones(width))

    s2mel = build(lambda: S2Mel.from_model_config(cfg))
    gpt = build(lambda: UnifiedVoice(GptConfig.from_model_config(cfg)))
    with torch.no_grad():
        gpt.mel_head.bias[gpt.config.stop_mel_token] = -1e4  # never stop early: exactly the workload's codes
    emotions = random_emotion_matrices(cfg, generator)
    conditioner = VoiceConditioner(
        w2v_bert=w2v_bert,
        codec=build(lambda: SemanticCodec(SemanticCodecConfig.from_model_config(cfg))),
        campplus=build(lambda: CAMPPlus(CampplusConfig.from_model_config(cfg))),
        length_regulator=s2mel.length_regulator,
        mel_spectrogram=audio.MelSpectrogram(cfg.mel).to(device),
    )
    vocoder = build(lambda: BigVGAN(BigVGANArgs.from_model_config(cfg)))
    with torch.no_grad():
        vocoder.conv_post.weight.mul_(0.05)  # keep the random waveform mostly inside the clamp, for the picture
    for net in (w2v_bert, s2mel, gpt, vocoder, conditioner.codec, conditioner.campplus):
        net.to(device)
    return Pipeline.build(
        tokenizer=None,
        conditioner=conditioner,
        gpt=gpt,
        emotions=emotions,
        s2mel=s2mel,
        vocoder=vocoder,
        mode=mode,
    )


def voice_clip(path: Path, seconds: float, rate: int = 22050) -> Path:
    """A speech-like test clip (a gliding harmonic voice with syllable-rate envelope, plus a little noise)."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    noise = np.random.default_rng(0).normal(0, 0.01, t.shape)
    soundfile.write(path, (0.25 * voice * envelope + noise).astype(np.float32), rate, subtype="PCM_16")
    return path


# -- timing ---------------------------------------------------------------------------------------------------


class StageClock:
    """Accumulates wall time per stage by wrapping the callables the pipeline goes through.

    The device is synchronised before each reading, so GPU work is charged to the stage that queued it.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def wrap(self, owner: object, attribute: str, stage: str) -> None:
        inner = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.sync()
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, attribute, timed)

    @contextmanager
    def total(self) -> Iterator[None]:
        self.seconds.clear()
        self.sync()
        start = time.perf_counter()
        yield
        self.sync()
        self.seconds["total"] = time.perf_counter() - start


def instrument(pipeline: Pipeline, clock: StageClock) -> None:
    conditioner = pipeline.conditioner
    clock.wrap(pipeline_module.audio, "load_voice_clip", "read_clips")
    clock.wrap(conditioner, "to_16k", "resample")
    clock.wrap(conditioner, "semantic_features", "w2v_bert")
    clock.wrap(conditioner.codec, "quantize", "codec_quantize")
    clock.wrap(conditioner, "ref_mel", "mel")
    clock.wrap(conditioner, "style", "fbank_campplus")
    clock.wrap(conditioner, "prompt_condition", "length_regulator_prompt")
    clock.wrap(pipeline.gpt, "speaker_latents", "gpt_conditioning")
    clock.wrap(pipeline.gpt, "emotion_vector", "gpt_conditioning")
    clock.wrap(pipeline_module, "generate", "gpt_generate")
    clock.wrap(pipeline.gpt, "forward", "gpt_forward")
    clock.wrap(pipeline.gpt, "latents_after_prompt", "gpt_forward")
    clock.wrap(conditioner.codec, "vq2emb", "s2mel")
    clock.wrap(pipeline.s2mel, "forward", "s2mel")
    clock.wrap(pipeline.vocoder, "forward", "bigvgan")


# -- one mode (child process) ---------------------------------------------------------------------------------


def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Build the mode's pipeline, run cold / warm / beam 3 / stream, save what the comparison needs."""
    device = torch.device(args.device)
    mode = {"exact": EXACT, "fast": FAST_GPU if device.type == "cuda" else FAST}[args.mode]
    cfg = official_config() if args.size == "full" else load_config(BUNDLE_MODEL)
    clip_s, text_len, codes = WORKLOADS[args.size]
    start = time.perf_counter()
    pipeline = random_pipeline(cfg, mode, device, args.seed)
    build_s = time.perf_counter() - start
    clock = StageClock(device)
    instrument(pipeline, clock)
    text = torch.randint(2, pipeline.gpt.config.text_vocab - 2, (text_len,), generator=torch.Generator().manual_seed(1))
    ids = text.tolist()

    def request(beams: int, max_codes: int = codes) -> Request:
        decoding = DecodingOptions(max_new_tokens=max_codes, num_beams=beams)
        return Request(text="", decoding=decoding, generator=torch.Generator(device=device).manual_seed(args.seed))

    runs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = voice_clip(Path(tmp) / "voice.wav", clip_s)
        with clock.total():
            voice = pipeline.prepare_voice(clip)
            cold = list(pipeline.stream_ids(voice, [ids], request(1)))
        runs["cold_beams_1"] = dict(clock.seconds)
    with clock.total():
        warm = list(pipeline.stream_ids(voice, [ids], request(1)))
    runs["warm_beams_1"] = dict(clock.seconds)
    if 3 in args.beams:
        with clock.total():
            pipeline.stream_ids(voice, [ids], request(3)).__next__()
        runs["warm_beams_3"] = dict(clock.seconds)
    stream = time_stream(pipeline, voice, [ids[: text_len // 2], ids[text_len // 2 :]], request(1, codes // 2), clock)

    segment = warm[0]
    audio_s = segment.wav.shape[-1] / pipeline.sampling_rate
    torch.save(_outputs(segment, cold[0]), Path(args.out).with_suffix(".pt"))
    forced = teacher_forced(pipeline, voice, Path(args.compare_to), args.seed) if args.compare_to else None
    return {
        "mode": mode.name,
        "device": str(device),
        "build_seconds_random_init": build_s,
        "runs": runs,
        "stream": stream,
        "audio_seconds": audio_s,
        "codes": int(segment.codes.shape[1]),
        "mel_frames": int(segment.s2mel.mel.shape[-1]),
        "prompt_mel_frames": int(voice.conditioning.ref_mel.shape[-1]),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "peak_cuda_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None,
        "teacher_forced": forced,
    }


def time_stream(
    pipeline: Pipeline, voice: VoicePrompt, segments: list[list[int]], request: Request, clock: StageClock
) -> dict[str, float]:
    """Seconds to the first segment's audio and to the last, for a two-segment text."""
    clock.sync()
    start = time.perf_counter()
    marks = []
    for _segment in pipeline.stream_ids(voice, segments, request):
        clock.sync()
        marks.append(time.perf_counter() - start)
    return {"first_audio_s": marks[0], "total_s": marks[-1], "segments": len(marks)}


def _outputs(segment: Segment, cold: Segment) -> dict[str, Tensor]:
    return {
        "codes": segment.codes.cpu(),
        "latent": segment.latent.float().cpu(),
        "mel": segment.s2mel.mel.cpu(),
        "wav": segment.wav.cpu(),
        "cold_equals_warm": torch.tensor(torch.equal(segment.wav, cold.wav)),
    }


def teacher_forced(pipeline: Pipeline, voice: VoicePrompt, exact_file: Path, seed: int) -> dict[str, Any]:
    """This mode's acoustic side on the exact run's codes and latents, with the exact run's noise (the first
    draw of the request generator: greedy decoding draws nothing). Saved for the parent's comparison."""
    exact = torch.load(exact_file, weights_only=True)
    device = pipeline.device
    codes, latent = exact["codes"].to(device), exact["latent"].to(device)
    cond = voice.conditioning
    with torch.inference_mode():
        shape = pipeline.s2mel.noise_shape(cond.ref_mel.shape[-1], codes.shape[1])
        noise = initial_noise(shape, torch.Generator(device=device).manual_seed(seed), device=device)
        out = pipeline.s2mel(
            latent,
            pipeline.conditioner.codec.vq2emb(codes),
            cond.prompt_condition,
            cond.ref_mel,
            cond.style,
            noise,
            pipeline.mode.flow,
        )
        wav = pipeline.vocoder(out.mel).float()[:, 0] * 32767
    forced = {"mel": out.mel.cpu(), "wav": wav.clamp(-32767, 32767).cpu()}
    torch.save(forced, exact_file.with_name("teacher_forced.pt"))
    return {"mel_frames": int(out.mel.shape[-1])}


# -- parent ---------------------------------------------------------------------------------------------------


def child(args: argparse.Namespace, mode: str, out: Path, compare_to: Path | None) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--mode",
        mode,
        "--size",
        args.size,
        "--device",
        args.device,
        "--seed",
        str(args.seed),
        "--beams",
        ",".join(map(str, args.beams)),
        "--out",
        str(out),
    ]
    if compare_to is not None:
        command += ["--compare-to", str(compare_to)]
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(out.read_text())


def deviation(tmp: Path) -> dict[str, Any]:
    """Fast vs exact: identical codes (free-running), and mel / waveform distances on the exact codes."""
    exact = torch.load(tmp / "exact.pt", weights_only=True)
    fast = torch.load(tmp / "fast.pt", weights_only=True)
    forced = torch.load(tmp / "teacher_forced.pt", weights_only=True)
    a, b = exact["codes"][0], fast["codes"][0]
    n = min(a.shape[0], b.shape[0])
    differ = (a[:n] != b[:n]).nonzero()
    return {
        "identical_codes_share": float((a[:n] == b[:n]).float().mean()),
        "first_differing_code": int(differ[0, 0]) if differ.numel() else None,
        "mel_l1_same_codes": float((forced["mel"] - exact["mel"]).abs().mean()),
        "mel_mean_abs_exact": float(exact["mel"].abs().mean()),
        "wav_rel_l2_same_codes": float((forced["wav"] - exact["wav"]).norm() / exact["wav"].norm().clamp_min(1e-9)),
        "exact_cold_equals_warm": bool(exact["cold_equals_warm"]),
    }


def spectrogram_picture(tmp: Path, path: Path, sampling_rate: int) -> None:
    """Exact and fast mels on the same codes and the log spectrograms of their waveforms, one figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    exact = torch.load(tmp / "exact.pt", weights_only=True)
    fast = torch.load(tmp / "teacher_forced.pt", weights_only=True)
    fig, axes = plt.subplots(2, 3, figsize=(15, 6), constrained_layout=True)
    diff = (fast["mel"] - exact["mel"])[0]
    panels = [
        (exact["mel"][0], "exact mel (s2mel, 25 steps, cfg 0.7)"),
        (fast["mel"][0], "fast mel (same codes)"),
        (diff, "fast - exact"),
    ]
    for ax, (image, title) in zip(axes[0], panels, strict=True):
        ax.imshow(image.numpy(), origin="lower", aspect="auto", cmap="magma" if "-" not in title else "coolwarm")
        ax.set_title(title)
    waves = [(exact["wav"], "exact waveform"), (fast["wav"], "fast waveform")]
    for ax, (wav, title) in zip(axes[1][:2], waves, strict=True):
        spec = torch.stft(wav[0] / 32767, 1024, 256, window=torch.hann_window(1024), return_complex=True).abs()
        ax.imshow((20 * torch.log10(spec + 1e-5)).numpy(), origin="lower", aspect="auto", cmap="magma")
        ax.set_title(f"{title}: log spectrogram ({sampling_rate} Hz)")
    axes[1][2].plot(diff.abs().mean(0).numpy())
    axes[1][2].set_title("mean |fast - exact| per frame")
    fig.suptitle("IndexTTS-2 fast vs exact mode (random weights: the signal is noise, the difference is the point)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def machine(device: str) -> dict[str, Any]:
    info = describe(
        "torch",
        torch_threads=torch.get_num_threads(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        device=device,
    )
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def summarise(run: dict[str, float]) -> dict[str, float]:
    summary = {name: sum(run.get(stage, 0.0) for stage in stages) for name, stages in SUMMARY.items()}
    summary["total"] = run["total"]
    return summary


def print_table(results: dict[str, Any], reference: dict[str, Any]) -> None:
    ref = reference.get("summary_by_stage_seconds", {})
    columns: list[tuple[str, dict[str, float] | None]] = [
        ("ref greedy", ref.get("num_beams_1")),
        ("ref beam3", ref.get("num_beams_3")),
    ]
    for mode, data in results["modes"].items():
        for run in ("cold_beams_1", "warm_beams_1", "warm_beams_3"):
            if run in data["runs"]:
                columns.append((f"{mode} {run.replace('_beams_', ' b')}", summarise(data["runs"][run])))
    rows = [*SUMMARY, "total"]
    head = f"{'stage (seconds)':<58}" + "".join(f"{name:>14}" for name, _ in columns)
    print(head)
    print("-" * len(head))
    for row in rows:
        cells = []
        for name, values in columns:
            key = REFERENCE_SUMMARY_KEYS.get(row, row) if name.startswith("ref") else row
            value = values.get(key) if values else None
            cells.append(f"{value:>14.2f}" if value is not None else f"{'-':>14}")
        print(f"{row[:58]:<58}" + "".join(cells))
    ref_total = (ref.get("num_beams_1") or {}).get("total") if results["size"] == "full" else None
    for mode, data in results["modes"].items():
        warm = data["runs"]["warm_beams_1"]["total"]
        speedup = f", {ref_total / warm:.1f}x the reference greedy" if ref_total else ""
        print(
            f"{mode}: warm RTF {warm / data['audio_seconds']:.2f}{speedup}; "
            f"peak RSS {data['peak_rss_gb']:.1f} GB; stream: first audio {data['stream']['first_audio_s']:.1f} s "
            f"of {data['stream']['total_s']:.1f} s"
        )
    if "deviation" in results:
        print("fast vs exact:", json.dumps(results["deviation"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(WORKLOADS), default="full")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    parser.add_argument("--modes", default="exact,fast")
    parser.add_argument("--beams", default="1,3", help="beam widths to time warm (1 is always run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--compare-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.beams = [int(b) for b in args.beams.split(",")]
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        Path(args.out).write_text(json.dumps(run_mode(args)))
        return

    modes = args.modes.split(",")
    # Smoke runs and GPU runs keep the CPU figures: tts_core[_tiny][_cuda].
    suffixes = ([args.size] if args.size != "full" else []) + (["cuda"] if args.device == "cuda" else [])
    stem = "_".join(["tts_core", *suffixes])
    results: dict[str, Any] = {"machine": machine(args.device), "size": args.size, "workload": {}, "modes": {}}
    clip_s, text_len, codes = WORKLOADS[args.size]
    results["workload"] = {"clip_seconds": clip_s, "text_tokens": text_len, "codes": codes}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for mode in modes:
            compare = tmp / "exact.pt" if mode != "exact" and "exact" in modes else None
            results["modes"][mode] = child(args, mode, tmp / f"{mode}.json", compare)
        if "exact" in modes and "fast" in modes:
            results["deviation"] = deviation(tmp)
            picture = RESULTS / f"{stem}_fast_vs_exact.png"
            RESULTS.mkdir(parents=True, exist_ok=True)
            spectrogram_picture(tmp, picture, 22050)
            results["deviation"]["picture"] = str(picture.relative_to(ROOT))
    reference = json.loads(REFERENCE_TIMINGS.read_text()) if REFERENCE_TIMINGS.is_file() else {}
    results["reference"] = reference.get("summary_by_stage_seconds", {})
    print_table(results, reference)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({m: d["runs"]["warm_beams_1"]["total"] for m, d in results["modes"].items()}))


if __name__ == "__main__":
    main()
