"""The in-process engine: fallback when the model is absent or fails, the voice cache, text preparation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.tts_engine.test_emotion_text import build_tiny_qwen
from tests.tts_engine.test_voices import write_clip
from tts_engine.api import Duration, Emotion, SynthesisRequest
from tts_engine.emotion_text import DEFAULT_FOLDER, TextEmotion
from tts_engine.engine import Engine, IndexTtsModel, ModelSpeech
from tts_engine.errors import InvalidRequest, ModelFolderError
from tts_engine.fallback import FallbackVoice
from tts_engine.voices import TensorCache, VoiceRegistry

torch = pytest.importorskip("torch", reason="torch is not installed")


class ScriptedModel:
    """A stand-in for IndexTTS-2 whose failures a test chooses (the failure injection the fallback exists for)."""

    sample_rate = 22050
    fingerprint = "scripted"

    def __init__(self, fail_after: int | None = None, error: Exception | None = None) -> None:
        self.fail_after = fail_after
        self.error = error or RuntimeError("CUDA out of memory")
        self.conditioned: list[tuple[Path, Path | None]] = []
        self.spoken: list[ModelSpeech] = []

    def condition(self, clip: Path, emotion_clip: Path | None) -> dict:
        self.conditioned.append((clip, emotion_clip))
        return {"style": torch.ones(1, 4)}

    def emotion_from_text(self, text: str) -> tuple[float, ...]:
        raise InvalidRequest("emotion from text needs qwen0.6bemo4-merge in the model folder")

    def speak(self, speech: ModelSpeech) -> Iterator[np.ndarray]:
        self.spoken.append(speech)
        for index, _sentence in enumerate(speech.text.split(". ")):
            if self.fail_after is not None and index >= self.fail_after:
                raise self.error
            yield np.full(2205, 0.1, dtype=np.float32)


def _engine(tmp_path: Path, model: ScriptedModel | None = None, **kwargs) -> Engine:
    return Engine(
        voices=VoiceRegistry(tmp_path / "voices"),
        model_dir=tmp_path / "model" if model or "model_loader" in kwargs else None,
        cache=TensorCache(tmp_path / "cache"),
        model_loader=kwargs.pop("model_loader", (lambda _dir, _progress: model) if model else None),
        fallback=FallbackVoice(),
        **kwargs,
    )


def test_no_model_folder_speaks_with_the_fallback_voice(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    audio = engine.synthesize(SynthesisRequest(text="INC-4217 is open. p99 is 600ms."))
    assert audio.fallback and audio.fallback_reason == "no model folder configured"
    assert audio.seconds > 1.0 and engine.status().model == "absent"


def test_broken_model_folder_falls_back_and_is_reported(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    engine = Engine(voices=VoiceRegistry(tmp_path / "voices"), model_dir=tmp_path / "model")
    audio = engine.synthesize(SynthesisRequest(text="Hello."))
    assert audio.fallback and audio.fallback_reason.startswith("model failed")
    status = engine.status()
    assert status.model == "failed" and status.error


def test_model_failure_at_load_falls_back(tmp_path: Path) -> None:
    def loader(_dir, _progress):
        raise ModelFolderError("missing", file="gpt.pth")

    engine = _engine(tmp_path, model_loader=loader)
    audio = engine.synthesize(SynthesisRequest(text="Hello there."))
    assert audio.fallback and "gpt.pth: missing" in audio.fallback_reason


@pytest.mark.parametrize("fail_after", [0, 1])
def test_model_failure_during_synthesis_falls_back(tmp_path: Path, fail_after: int) -> None:
    model = ScriptedModel(fail_after=fail_after)
    engine = _engine(tmp_path, model)
    segments = list(engine.stream(SynthesisRequest(text="First part. Second part. Third part.")))
    assert len(segments) == fail_after + 3  # what the model said, then the whole message in the fallback voice
    assert not any(s.fallback for s in segments[:fail_after])
    assert all(s.fallback and "CUDA out of memory" in s.fallback_reason for s in segments[fail_after:])


def test_conditioning_failure_falls_back(tmp_path: Path) -> None:
    model = ScriptedModel()
    model.condition = lambda clip, emotion_clip: (_ for _ in ()).throw(MemoryError("w2v-BERT out of memory"))
    audio = _engine(tmp_path, model).synthesize(SynthesisRequest(text="Hello."))
    assert audio.fallback and "w2v-BERT out of memory" in audio.fallback_reason


def test_timeout_falls_back(tmp_path: Path) -> None:
    engine = _engine(tmp_path, ScriptedModel(), model_timeout_s=1e-9)
    audio = engine.synthesize(SynthesisRequest(text="One. Two."))
    assert audio.fallback and "TimeoutError" in audio.fallback_reason


def test_model_request_and_cache_hits(tmp_path: Path) -> None:
    model = ScriptedModel()
    engine = _engine(tmp_path, model)
    engine.voices.add("oncall", write_clip(tmp_path / "clip.wav", 2.0), language="en", glossary={"k8s": "kates"})
    request = SynthesisRequest(
        text="k8s at p99. Check INC-4217.",
        voice="oncall",
        emotion=Emotion.from_preset("urgent", 0.5),
        duration=Duration(ratio=0.9),
        seed=3,
    )
    first = engine.synthesize(request)
    second = engine.synthesize(request)
    assert not first.fallback and len(first.samples) == len(second.samples) == 2 * 2205
    assert len(model.conditioned) == 1  # the second request skipped the conditioning work
    assert (engine.cache.stats.misses, engine.cache.stats.memory_hits) == (1, 1)
    speech = model.spoken[0]
    assert speech.text == "kates at P ninety-nine. Check incident forty-two seventeen."
    assert speech.emotion_weights == Emotion.from_preset("urgent", 0.5).weights()
    assert (speech.duration, speech.seed, speech.language) == (Duration(ratio=0.9), 3, "en")
    # a new engine (a restart) finds the conditioning on disk
    restarted = _engine(tmp_path, model)
    restarted.synthesize(request)
    assert len(model.conditioned) == 1 and restarted.cache.stats.disk_hits == 1


def test_no_voice_uses_an_espeak_prompt_clip(tmp_path: Path) -> None:
    model = ScriptedModel()
    _engine(tmp_path, model).synthesize(SynthesisRequest(text="你好。", language="zh"))
    assert model.conditioned[0][0].name == "espeak-zh.wav"


def test_bad_requests_reach_the_caller(tmp_path: Path) -> None:
    engine = _engine(tmp_path, ScriptedModel())
    with pytest.raises(InvalidRequest, match="qwen"):
        engine.synthesize(SynthesisRequest(text="Hi.", emotion=Emotion.from_text("furious")))
    with pytest.raises(InvalidRequest, match="unknown voice"):
        engine.synthesize(SynthesisRequest(text="Hi.", voice="nobody"))


def test_fallback_marks_emotions_it_cannot_follow(tmp_path: Path) -> None:
    audio = _engine(tmp_path).synthesize(SynthesisRequest(text="Hi.", emotion=Emotion.from_text("furious")))
    assert audio.fallback and "emotion from text needs the model" in audio.fallback_reason


def test_fallback_duration_is_exact_through_the_engine(tmp_path: Path) -> None:
    audio = _engine(tmp_path).synthesize(
        SynthesisRequest(text="One two three. Four five six.", duration=Duration(seconds=3))
    )
    assert len(audio.samples) == 3 * 22050


class RecordingPipeline:
    """Stands in for tts_engine.pipeline.Pipeline behind IndexTtsModel: records requests, yields two segments."""

    sampling_rate = 22050
    device = torch.device("cpu")
    gpt = SimpleNamespace(config=SimpleNamespace(mel_positions=100))

    def __init__(self) -> None:
        self.requests: list = []

    def stream(self, voice: object, request: object) -> Iterator[SimpleNamespace]:
        self.requests.append(request)
        for silence in (0, 3000):
            yield SimpleNamespace(wav=torch.full((1, 512), 32767.0), silence_before=silence)


def _index_tts(tmp_path: Path, text_emotion: TextEmotion | None = None) -> IndexTtsModel:
    model = IndexTtsModel(
        RecordingPipeline(), tmp_path, "recording", text_emotion or TextEmotion(tmp_path / DEFAULT_FOLDER)
    )
    model.condition = lambda clip, emotion_clip: {"style": torch.ones(1, 4)}  # type: ignore[method-assign]
    model._prompt = lambda tensors: "voice"  # type: ignore[method-assign]
    return model


@pytest.mark.parametrize(
    ("duration", "scale", "seconds"),
    [(None, 1.0, None), (Duration(ratio=0.9), 0.9, None), (Duration(seconds=3), 1.0, 3)],
)
def test_model_duration_is_the_pipelines_length_scale(
    tmp_path: Path, duration: Duration | None, scale: float, seconds: float | None
) -> None:
    """The engine hands duration to s2mel's target length and plays the segments as they come (no stretching)."""
    model = _index_tts(tmp_path)
    speech = ModelSpeech("Hello.", "en", {}, None, 1.0, duration, None)
    waves = list(model.speak(speech))
    request = model.pipeline.requests[0]
    assert (request.length_scale, request.target_seconds) == (scale, seconds)
    assert [len(w) for w in waves] == [512, 3000 + 512]
    assert not waves[1][:3000].any() and np.allclose(waves[1][3000:], 1.0)


def test_emotion_from_text_asks_the_qwen_model(tmp_path: Path) -> None:
    folder = build_tiny_qwen(tmp_path / "model" / DEFAULT_FOLDER, ['{"愤怒":', "0.8}"])
    model = _index_tts(tmp_path, TextEmotion(folder))
    engine = _engine(tmp_path, model_loader=lambda _dir, _progress: model)
    engine.voices.add("oncall", write_clip(tmp_path / "clip.wav", 2.0), language="en")
    engine.synthesize(SynthesisRequest(text="Hi.", voice="oncall", emotion=Emotion.from_text("furious", 0.5)))
    request = model.pipeline.requests[0]
    assert request.emo_vector == pytest.approx([0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert request.emo_alpha == 1.0


def test_emotion_from_text_without_the_qwen_folder_is_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path, model_loader=lambda _dir, _progress: _index_tts(tmp_path))
    engine.voices.add("oncall", write_clip(tmp_path / "clip.wav", 2.0), language="en")
    with pytest.raises(InvalidRequest, match=f"Qwen emotion model in .*{DEFAULT_FOLDER}"):
        engine.synthesize(SynthesisRequest(text="Hi.", voice="oncall", emotion=Emotion.from_text("furious")))


@pytest.mark.slow
def test_tiny_model_end_to_end_with_cache_and_duration(tmp_path: Path) -> None:
    """The real pipeline on the conformance bundle's random-weight model (noise, but the model's own path)."""
    model_dir = Path(__file__).resolve().parents[2].parent / "shared" / "indextts-conformance" / "model"
    engine = Engine(voices=VoiceRegistry(tmp_path / "voices"), model_dir=model_dir, cache=TensorCache(tmp_path / "c"))
    natural = engine.synthesize(SynthesisRequest(text="INC-4217 is open.", seed=1))
    assert not natural.fallback, natural.fallback_reason
    assert engine.status().model == "ready" and engine.cache.stats.misses == 1
    slower = engine.synthesize(SynthesisRequest(text="INC-4217 is open.", seed=1, duration=Duration(ratio=1.5)))
    assert engine.cache.stats.memory_hits == 1  # the second request skipped w2v-BERT / codec / CAMPPlus
    assert abs(len(slower.samples) - 1.5 * len(natural.samples)) <= 256
