"""The in-process engine: the IndexTTS-2 model when there is one, the fallback voice when there is not.

:class:`Engine` owns the voice registry, the conditioning cache and (lazily) the model. It prepares the text
(:mod:`tts_engine.incident_text` with the voice's and the request's glossary), resolves the voice and the emotion,
and asks the model for one waveform per segment. Whatever goes wrong on the model's side — no model folder, a
missing file, out of memory, a timeout, a bug — the request is answered by the fallback voice and the result is
marked (``Audio.fallback`` and ``fallback_reason``), because a page that is not spoken is worse than a robotic one.
Only what is wrong with the request itself (InvalidRequest, InvalidAudio) reaches the caller.

The model is reached through :class:`SpeechModel`, a small protocol; :func:`load_indextts` adapts
:mod:`tts_engine.pipeline` to it. torch is imported only there, so an engine with no model folder runs without it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tts_engine import incident_text
from tts_engine.api import Audio, Duration, SynthesisRequest
from tts_engine.errors import InvalidAudio, InvalidRequest
from tts_engine.fallback import FallbackVoice
from tts_engine.voices import TensorCache, Voice, VoiceRegistry

if TYPE_CHECKING:
    from torch import Tensor

    from tts_engine.emotion_text import TextEmotion

__all__ = ["Engine", "EngineStatus", "IndexTtsModel", "ModelSpeech", "SpeechModel", "default_engine", "load_indextts"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class ModelSpeech:
    """What the engine asks the model for: the text of one request, already normalised, and its controls."""

    text: str
    language: str
    conditioning: dict[str, Tensor]
    emotion_weights: tuple[float, ...] | None
    emotion_alpha: float
    duration: Duration | None
    seed: int | None


class SpeechModel(Protocol):
    """The engine's view of IndexTTS-2 (see :func:`load_indextts`)."""

    sample_rate: int
    fingerprint: str  # identifies the weights; part of every conditioning cache key

    def condition(self, clip: Path, emotion_clip: Path | None) -> dict[str, Tensor]:
        """The voice's (and emotion clip's) conditioning tensors: what the voice cache keeps."""

    def emotion_from_text(self, text: str) -> tuple[float, ...]:
        """8 emotion weights from free text; InvalidRequest when the folder has no emotion-text model."""

    def speak(self, speech: ModelSpeech) -> Iterator[np.ndarray]:
        """One float32 waveform per segment, the silence between segments included at each segment's start."""


@dataclass(frozen=True)
class EngineStatus:
    """For health checks: ``model`` is absent | not loaded | loading | ready | failed."""

    model: str
    model_dir: str | None
    error: str | None
    fallback: str
    voices: int
    cache: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


ModelLoader = Callable[[Path, Progress | None], SpeechModel]


class Engine:
    """Speech for Herald. Thread-safe; the model loads on first use (or on :meth:`load`)."""

    def __init__(
        self,
        *,
        voices: VoiceRegistry,
        model_dir: Path | None = None,
        cache: TensorCache | None = None,
        model_loader: ModelLoader | None = None,
        model_timeout_s: float | None = None,
        fallback: FallbackVoice | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.voices = voices
        self.model_dir = Path(model_dir) if model_dir else None
        self.cache = cache or TensorCache(None)
        self.fallback = fallback or FallbackVoice()
        self._loader = model_loader or load_indextts
        self._timeout = model_timeout_s
        self._now = now or (lambda: datetime.now(UTC))
        self._model: SpeechModel | None = None
        self._model_error: str | None = None
        self._loading = False
        self._lock = threading.Lock()

    # --- model lifecycle -------------------------------------------------------------------------------------

    def load(self, progress: Progress | None = None) -> SpeechModel | None:
        """The model, loading it on first call; None (and a recorded reason) when absent or broken."""
        if self.model_dir is None:
            return None
        with self._lock:
            if self._model is not None or self._model_error is not None:
                return self._model
            self._loading = True
            try:
                self._model = self._loader(self.model_dir, progress)
            except Exception as exc:  # any failure means the fallback speaks; the reason is kept for health
                self._model_error = f"{type(exc).__name__}: {exc}"
                log.warning("IndexTTS model at %s unavailable, using the fallback voice: %s", self.model_dir, exc)
            finally:
                self._loading = False
            return self._model

    def status(self) -> EngineStatus:
        if self.model_dir is None:
            model = "absent"
        elif self._loading:
            model = "loading"
        elif self._model is not None:
            model = "ready"
        else:
            model = "failed" if self._model_error else "not loaded"
        return EngineStatus(
            model=model,
            model_dir=str(self.model_dir) if self.model_dir else None,
            error=self._model_error,
            fallback="espeak-ng",
            voices=len(self.voices.list()),
            cache=dict(self.cache.stats.__dict__),
        )

    # --- synthesis ------------------------------------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest, progress: Progress | None = None) -> Audio:
        """The whole utterance. Never raises for a valid request (see the module docstring)."""
        return Audio.concatenate(list(self.stream(request, progress)))

    def stream(self, request: SynthesisRequest, progress: Progress | None = None) -> Iterator[Audio]:
        """One Audio per segment, as each is ready (segments after the first start with the pause before them)."""
        voice = self.voices.resolve(request.voice)
        emotion_clip = self._emotion_clip(request)
        language = request.language or (voice.language if voice else None)
        language = language or incident_text.detect_language(request.text)
        model = self.load(progress)
        if model is None:
            reason = "no model folder configured" if self.model_dir is None else f"model failed: {self._model_error}"
            yield from self._fallback(request, language, voice, reason, progress)
            return
        sent = 0
        deadline = time.monotonic() + self._timeout if self._timeout else None
        try:
            speech = self._model_speech(model, request, language, voice, emotion_clip, progress)
            for samples in model.speak(speech):
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"synthesis took longer than {self._timeout:g} s")
                sent += 1
                if progress:
                    progress("segment", sent, 0)
                yield Audio(samples, model.sample_rate)
        except (InvalidRequest, InvalidAudio):
            raise
        except Exception as exc:  # out of memory, timeout, a bug: speak anyway, and say why
            log.exception("IndexTTS synthesis failed after %d segment(s); the fallback voice speaks", sent)
            reason = f"model failed: {type(exc).__name__}: {exc}"
            yield from self._fallback(request, language, voice, reason, progress)

    def _model_speech(
        self,
        model: SpeechModel,
        request: SynthesisRequest,
        language: str,
        voice: Voice | None,
        emotion_clip: Path | None,
        progress: Progress | None,
    ) -> ModelSpeech:
        emotion = request.emotion
        weights = model.emotion_from_text(emotion.text or "") if emotion.kind == "text" else emotion.weights()
        if emotion.kind == "text":
            weights = tuple(w * emotion.intensity for w in weights)
        clip = voice.clip if voice else self._default_clip(language)
        return ModelSpeech(
            text=self._prepare_text(request, language, voice, keep_characters=False),
            language=language,
            conditioning=self._conditioning(model, clip, emotion_clip, progress),
            emotion_weights=weights,
            emotion_alpha=emotion.intensity if emotion.kind == "audio" else 1.0,
            duration=request.duration,
            seed=request.seed,
        )

    def _conditioning(
        self, model: SpeechModel, clip: Path, emotion_clip: Path | None, progress: Progress | None
    ) -> dict[str, Tensor]:
        """Cached by the clips' content and the model's weights: a voice's second request skips this work."""
        clip_hash = _file_hash(clip)
        emotion_hash = _file_hash(emotion_clip) if emotion_clip else "self"
        key = f"{model.fingerprint}-{clip_hash}-{emotion_hash}"
        if progress:
            progress("conditioning", 0, 1)
        tensors = self.cache.get_or_compute(key, lambda: model.condition(clip, emotion_clip))
        if progress:
            progress("conditioning", 1, 1)
        return tensors

    def _default_clip(self, language: str) -> Path:
        """With no voice registered the model imitates the fallback voice: a clip rendered once by espeak-ng."""
        path = self.voices.root / ".clips" / f"espeak-{language}.wav"
        if not path.is_file():
            sample = {
                "zh": "你好，这里是 Herald 值班提醒。请注意查看当前的事件。",
                "en": "Hello, this is Herald, your on-call assistant.",
            }
            rendered = self.fallback.render(sample[language], language=language)
            gap = np.zeros(rendered.gap, dtype=np.float32)
            samples = np.concatenate([p for seg in rendered.segments for p in (seg, gap)])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(Audio(samples, self.fallback.sample_rate).to_wav())
        return path

    def _emotion_clip(self, request: SynthesisRequest) -> Path | None:
        if request.emotion.kind != "audio" or request.emotion.audio is None:
            return None
        clip = self.voices.resolve(
            request.emotion.audio if isinstance(request.emotion.audio, bytes) else Path(request.emotion.audio)
        )
        return clip.clip if clip else None

    def _fallback(
        self, request: SynthesisRequest, language: str, voice: Voice | None, reason: str, progress: Progress | None
    ) -> Iterator[Audio]:
        weights = request.emotion.weights()
        if request.emotion.kind in ("text", "audio"):
            reason += f"; emotion from {request.emotion.kind} needs the model, spoken neutral"
        rendered = self.fallback.render(
            self._prepare_text(request, language, voice, keep_characters=True),
            language=language,
            emotion=weights,
            duration=request.duration,
        )
        rate = self.fallback.sample_rate
        for index, segment in enumerate(rendered.segments):
            if progress:
                progress("segment (fallback voice)", index + 1, len(rendered.segments))
            pause = np.zeros(rendered.gap if index else 0, dtype=np.float32)
            yield Audio(np.concatenate([pause, segment]), rate, fallback=True, fallback_reason=reason)

    def _prepare_text(
        self, request: SynthesisRequest, language: str, voice: Voice | None, *, keep_characters: bool
    ) -> str:
        glossary = {**(voice.glossary if voice else {}), **request.glossary}
        return incident_text.normalize(
            request.text,
            language=language,
            glossary=glossary,
            timezone=request.timezone,
            now=self._now(),
            keep_characters=keep_characters,
        )


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_indextts(model_dir: Path, progress: Progress | None = None) -> SpeechModel:
    """The IndexTTS-2 pipeline of ``model_dir`` behind :class:`SpeechModel` (imports torch)."""
    return IndexTtsModel.load(model_dir, progress)


class IndexTtsModel:
    """:mod:`tts_engine.pipeline` as a :class:`SpeechModel`.

    The voice cache stores a pipeline ``VoicePrompt`` flattened to named tensors. Duration goes to the pipeline,
    which scales s2mel's target length (pitch-preserving; a target in seconds is planned over every segment's
    codes before the first segment is rendered). Emotion from text asks the folder's Qwen emotion model
    (:mod:`tts_engine.emotion_text`), loaded on the first such request.
    """

    def __init__(self, pipeline: object, model_dir: Path, fingerprint: str, text_emotion: TextEmotion) -> None:
        self.pipeline = pipeline
        self.model_dir = model_dir
        self.fingerprint = fingerprint
        self.text_emotion = text_emotion
        self.sample_rate = int(pipeline.sampling_rate)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, model_dir: Path, progress: Progress | None = None) -> IndexTtsModel:
        import torch

        from tts_engine.config import load_config
        from tts_engine.emotion_text import TextEmotion
        from tts_engine.pipeline import EXACT, FAST, Pipeline

        if progress:
            progress("loading model", 0, 1)
        cfg = load_config(model_dir)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        pipeline = Pipeline.load(cfg, mode=FAST if device == "cuda" else EXACT, device=device)
        if progress:
            progress("loading model", 1, 1)
        text_emotion = TextEmotion.from_model_config(cfg, device=device)
        return cls(pipeline, Path(model_dir), _model_fingerprint(Path(model_dir)), text_emotion)

    def condition(self, clip: Path, emotion_clip: Path | None) -> dict[str, Tensor]:
        import dataclasses

        import torch

        prompt = self.pipeline.prepare_voice(clip, emotion_clip)  # type: ignore[attr-defined]
        flat = {f"conditioning.{k}": v for k, v in dataclasses.asdict(prompt.conditioning).items()}
        for name in ("audio_22k", "speaker_latents", "emovec_spk", "emovec_emo", "emo_audio_16k"):
            if getattr(prompt, name) is not None:
                flat[name] = getattr(prompt, name)
        flat["has_emotion_clip"] = torch.tensor([prompt.has_emotion_clip])
        return flat

    def _prompt(self, tensors: dict[str, Tensor]) -> object:
        from tts_engine.conditioning import VoiceConditioning
        from tts_engine.pipeline import VoicePrompt

        device = self.pipeline.device  # type: ignore[attr-defined]
        on = {k: v.to(device) for k, v in tensors.items()}
        fields = {k.removeprefix("conditioning."): v for k, v in on.items() if k.startswith("conditioning.")}
        return VoicePrompt(
            audio_22k=on["audio_22k"],
            emo_audio_16k=on.get("emo_audio_16k"),
            conditioning=VoiceConditioning(**fields),
            speaker_latents=on["speaker_latents"],
            emovec_spk=on["emovec_spk"],
            emovec_emo=on["emovec_emo"],
            has_emotion_clip=bool(on["has_emotion_clip"].item()),
        )

    def emotion_from_text(self, text: str) -> tuple[float, ...]:
        return self.text_emotion(text)

    def speak(self, speech: ModelSpeech) -> Iterator[np.ndarray]:
        import torch

        from tts_engine.generation import DecodingOptions
        from tts_engine.pipeline import Request

        generator = None
        if speech.seed is not None:
            generator = torch.Generator(device=self.pipeline.device).manual_seed(speech.seed)  # type: ignore[attr-defined]
        duration = speech.duration
        request = Request(
            text=speech.text,
            emo_alpha=speech.emotion_alpha,
            emo_vector=list(speech.emotion_weights) if speech.emotion_weights else None,
            generator=generator,
            # the reference's 1500 codes, or fewer where the model's mel positions end sooner (small models)
            decoding=DecodingOptions(max_new_tokens=min(1500, self.pipeline.gpt.config.mel_positions - 1)),  # type: ignore[attr-defined]
            length_scale=duration.ratio if duration is not None and duration.ratio is not None else 1.0,
            target_seconds=duration.seconds if duration is not None else None,
        )
        for segment in self.pipeline.stream(self._prompt(speech.conditioning), request):  # type: ignore[attr-defined]
            wave = segment.wav[0].float().numpy() / 32767.0
            yield np.concatenate([np.zeros(segment.silence_before, dtype=np.float32), wave])


def _model_fingerprint(model_dir: Path) -> str:
    """Identifies the weights cheaply (names, sizes, modification times of the checkpoint files)."""
    digest = hashlib.sha256()
    for path in sorted(
        p for p in model_dir.rglob("*") if p.is_file() and p.suffix in (".pth", ".pt", ".bin", ".yaml", ".safetensors")
    ):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


@cache
def default_engine() -> Engine:
    """The process's engine for callers that do not build one: ``HERALD_TTS_MODEL_DIR`` (optional) for the model,
    ``HERALD_DATA_DIR`` (default ``var``) + ``/tts`` for voices and the conditioning cache."""
    home = Path(os.environ.get("HERALD_DATA_DIR") or "var") / "tts"
    model_dir = os.environ.get("HERALD_TTS_MODEL_DIR") or None
    return Engine(
        voices=VoiceRegistry(home / "voices"),
        model_dir=Path(model_dir) if model_dir else None,
        cache=TensorCache(home / "conditioning"),
    )
