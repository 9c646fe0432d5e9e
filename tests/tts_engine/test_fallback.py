"""The espeak-ng fallback voice: both languages, emotion prosody, exact duration control, no torch needed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tts_engine.api import Duration, Emotion
from tts_engine.errors import InvalidRequest
from tts_engine.fallback import FallbackVoice, prosody_for, split_sentences, time_stretch

EN = "Database latency is high. Please look now. It started ten minutes ago."
ZH = "数据库延迟升高。请立即处理。十分钟前开始。"


@pytest.fixture(scope="module")
def voice() -> FallbackVoice:
    return FallbackVoice()


def _total(rendered) -> int:
    return sum(map(len, rendered.segments)) + rendered.gap * (len(rendered.segments) - 1)


@pytest.mark.parametrize(("text", "language"), [(EN, "en"), (ZH, "zh")])
def test_speaks_both_languages_one_segment_per_sentence(voice: FallbackVoice, text: str, language: str) -> None:
    rendered = voice.render(text, language=language)
    assert voice.sample_rate == 22050
    assert len(rendered.segments) == 3
    for segment in rendered.segments:
        assert segment.dtype == np.float32 and len(segment) > 0.3 * voice.sample_rate
        assert 0.05 < np.abs(segment).max() <= 1.0


@pytest.mark.parametrize("ratio", [0.5, 0.8, 1.0, 1.25, 2.0])
def test_duration_ratio_is_exact(voice: FallbackVoice, ratio: float) -> None:
    natural = _total(voice.render(EN, language="en"))
    stretched = _total(voice.render(EN, language="en", duration=Duration(ratio=ratio)))
    assert abs(stretched - natural * ratio) <= 256 * 3  # within one mel frame (256 samples) per segment


@pytest.mark.parametrize("seconds", [4.0, 5.5, 7.0])
def test_target_seconds_are_met_to_the_sample(voice: FallbackVoice, seconds: float) -> None:
    rendered = voice.render(ZH, language="zh", duration=Duration(seconds=seconds))
    assert _total(rendered) == round(seconds * voice.sample_rate)


def test_target_outside_the_intelligible_range_is_refused(voice: FallbackVoice) -> None:
    with pytest.raises(InvalidRequest, match=r"between 0\.5x and 2x"):
        voice.render("Short.", language="en", duration=Duration(seconds=60))


def test_urgent_speaks_faster_and_higher_than_calm(voice: FallbackVoice) -> None:
    urgent, calm = (
        prosody_for(Emotion.from_preset("urgent").weights()),
        prosody_for(Emotion.from_preset("calm").weights()),
    )
    assert urgent.rate_scale > 1.0 > calm.rate_scale and urgent.pitch > calm.pitch
    fast = _total(voice.render(EN, language="en", emotion=Emotion.from_preset("urgent").weights()))
    slow = _total(voice.render(EN, language="en", emotion=Emotion.from_preset("calm").weights()))
    assert fast < slow
    assert prosody_for(None) == prosody_for(Emotion.from_preset("neutral").weights())


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("factor", [0.6, 0.9, 1.1, 1.7])
def test_time_stretch_keeps_the_pitch(factor: float) -> None:
    rate = 22050
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    stretched = time_stretch(tone, int(len(tone) * factor))
    assert len(stretched) == int(len(tone) * factor)
    assert abs(_peak_hz(stretched[2048:-2048], rate) - 220.0) < 3.0


def test_sentences() -> None:
    assert split_sentences("One. Two! 三。四？五\nsix") == ["One.", "Two!", "三。", "四？", "五", "six"]
    assert split_sentences("v1.1.0 is out") == ["v1.1.0 is out"]


def test_works_without_torch() -> None:
    """The fallback path (api, engine, fallback, voices) must import and speak with torch absent."""
    script = (
        "import sys, tempfile, pathlib; sys.modules['torch'] = None\n"
        "from tts_engine.api import SynthesisRequest\n"
        "from tts_engine.engine import Engine\n"
        "from tts_engine.voices import VoiceRegistry\n"
        "engine = Engine(voices=VoiceRegistry(pathlib.Path(tempfile.mkdtemp())))\n"
        "audio = engine.synthesize(SynthesisRequest(text='INC-4217 is open.'))\n"
        "assert audio.fallback and audio.seconds > 0.5, audio\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
