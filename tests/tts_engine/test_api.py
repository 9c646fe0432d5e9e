"""The public request/result types: every request kind, every bad input, and the audio encoders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

import tts_engine
from tts_engine.api import EMOTION_PRESETS, EMOTIONS, Audio, Duration, Emotion, SynthesisRequest
from tts_engine.errors import InvalidAudio, InvalidRequest


def test_package_exports_the_api_only() -> None:
    assert sorted(tts_engine.__all__) == sorted(
        ["Audio", "Duration", "Emotion", "SynthesisRequest", "synthesize", "stream", "EMOTIONS", "EMOTION_PRESETS"]
    )
    for name in tts_engine.__all__:
        assert getattr(tts_engine, name) is not None


@pytest.mark.parametrize(
    ("spec", "kind", "intensity"),
    [
        ("urgent", "preset", 1.0),
        ("reassuring@0.5", "preset", 0.5),
        ("none", "none", 1.0),
        ("vector:0,0,0,0,0,0,0,0.6", "vector", 1.0),
        ("vector:0.2,0,0,0,0,0,0,0.2@0.3", "vector", 0.3),
        ("audio:clip.wav@0.8", "audio", 0.8),
        ("text:the database is on fire @ midnight", "text", 1.0),
    ],
)
def test_emotion_specs(spec: str, kind: str, intensity: float) -> None:
    emotion = Emotion.parse(spec)
    assert (emotion.kind, emotion.intensity) == (kind, intensity)


def test_emotion_weights_scale_with_intensity() -> None:
    assert Emotion.from_preset("calm", 0.5).weights() == tuple(v * 0.5 for v in EMOTION_PRESETS["calm"])
    assert Emotion.from_vector([0.1] * 8).weights() == (0.1,) * 8
    assert Emotion.from_audio(Path("x.wav")).weights() is None
    assert len(EMOTIONS) == 8


@pytest.mark.parametrize(
    "build",
    [
        lambda: Emotion.parse("furious"),
        lambda: Emotion.parse("urgent@1.5"),
        lambda: Emotion.parse("urgent@loud"),
        lambda: Emotion.parse("vector:1,2"),
        lambda: Emotion.parse("vector:a,b,c,d,e,f,g,h"),
        lambda: Emotion.parse("vector:0.9,0.9,0,0,0,0,0,0"),
        lambda: Emotion.parse("smell:roses"),
        lambda: Emotion.from_vector([-0.1] + [0.0] * 7),
        lambda: Emotion.from_text("  "),
        lambda: Emotion(kind="preset"),
        lambda: Emotion(kind="preset", preset="calm", text="x"),
    ],
)
def test_bad_emotions(build) -> None:
    with pytest.raises(InvalidRequest):
        build()


def test_emotion_presets_match_the_model_side() -> None:
    emotion = pytest.importorskip("tts_engine.emotion", reason="torch is not installed")
    assert dict(EMOTION_PRESETS) == dict(emotion.PRESETS)
    assert tuple(emotion.EMOTIONS) == EMOTIONS


@pytest.mark.parametrize(
    ("spec", "ratio", "seconds"),
    [("0.9x", 0.9, None), ("2×", 2.0, None), ("12s", None, 12.0), ("7.5 seconds", None, 7.5), ("1x", 1.0, None)],
)
def test_duration_specs(spec: str, ratio: float | None, seconds: float | None) -> None:
    duration = Duration.parse(spec)
    assert (duration.ratio, duration.seconds) == (ratio, seconds)


@pytest.mark.parametrize("spec", ["0.4x", "2.5x", "0s", "fast", "12", "-1s", "9999s"])
def test_bad_durations(spec: str) -> None:
    with pytest.raises(InvalidRequest):
        Duration.parse(spec)


def test_target_length_is_checked_against_the_natural_length() -> None:
    assert Duration(seconds=6).ratio_for(4.0) == pytest.approx(1.5)
    with pytest.raises(InvalidRequest, match=r"between 0\.5x and 2x"):
        Duration(seconds=20).ratio_for(4.0)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": ""}, "empty"),
        ({"text": "   "}, "empty"),
        ({"text": "x" * 2001}, "limit"),
        ({"text": "hi", "language": "fr"}, "language"),
        ({"text": "hi", "seed": -1}, "seed"),
        ({"text": "hi", "voice": " "}, "voice"),
        ({"text": "hi", "timezone": "Mars/Olympus"}, "time zone"),
    ],
)
def test_bad_requests(fields: dict, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        SynthesisRequest(**fields)


def test_a_full_request() -> None:
    request = SynthesisRequest(
        text="INC-4217 p99 600ms",
        voice="oncall",
        emotion=Emotion.from_preset("urgent", 0.7),
        duration=Duration(ratio=0.9),
        language="en",
        seed=7,
        glossary={"k8s": "kubernetes"},
        timezone="Europe/Berlin",
    )
    assert request.emotion.preset == "urgent" and str(request.duration) == "0.9x"


def _tone(seconds: float = 1.0, rate: int = 22050, hz: float = 440.0) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio(0.5 * np.sin(2 * np.pi * hz * t), rate)


def test_wav_round_trip() -> None:
    audio = _tone()
    decoded = Audio.from_wav(audio.to_wav())
    assert decoded.sample_rate == 22050 and len(decoded.samples) == len(audio.samples)
    assert np.max(np.abs(decoded.samples - audio.samples)) < 1e-4
    info = soundfile.info(io.BytesIO(audio.to_wav()))
    assert (info.subtype, info.channels) == ("PCM_16", 1)


def test_mulaw_for_telephony() -> None:
    audio = _tone(2.0)
    raw = audio.to_mulaw()
    assert len(raw) == 16000  # one byte per sample at 8 kHz
    wav = audio.to_mulaw_wav()
    info = soundfile.info(io.BytesIO(wav))
    assert (info.samplerate, info.subtype, info.frames) == (8000, "ULAW", 16000)
    decoded, _ = soundfile.read(io.BytesIO(wav), dtype="float32")
    reference = audio.resampled(8000).samples
    assert np.max(np.abs(decoded[100:-100] - reference[100:-100])) < 0.02  # μ-law is ~8 bits of precision


def test_concatenate_leaves_the_gap_and_keeps_the_fallback_mark() -> None:
    parts = [_tone(0.5), Audio(np.zeros(100), 22050, fallback=True, fallback_reason="model failed")]
    joined = Audio.concatenate(parts, gap_seconds=0.2)
    assert len(joined.samples) == 11025 + 4410 + 100
    assert joined.fallback and joined.fallback_reason == "model failed"


def test_unreadable_audio() -> None:
    with pytest.raises(InvalidAudio):
        Audio.from_wav(b"not a wav")


def test_samples_are_clipped_to_full_scale() -> None:
    audio = Audio(np.array([2.0, -3.0, 0.5]), 8000)
    assert audio.samples.tolist() == [1.0, -1.0, 0.5]
    assert audio.to_pcm16().tolist() == [32767, -32767, 16383]
