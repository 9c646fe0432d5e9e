"""The whole pipeline on the bundle's tiny model: joining, streaming, noise, emotion rules, fast mode.

The numerical agreement with the reference (every intermediate of the three end_to_end cases) is checked by
``test_conformance.py``; these tests cover the pipeline's own behaviour around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile
import torch

from tts_engine import pipeline as pipeline_module
from tts_engine.conformance import Bundle
from tts_engine.errors import InvalidRequest
from tts_engine.flow import FlowSettings
from tts_engine.generation import DecodingOptions
from tts_engine.pipeline import EXACT, FAST, Mode, Pipeline, Request, VoicePrompt

TWO_SEGMENTS = "Hello there, this is a test. 我们终于赢得了比赛！"
SHORT = DecodingOptions(max_new_tokens=6, num_beams=1)


@pytest.fixture(scope="module")
def pipeline(bundle: Bundle) -> Pipeline:
    """The exact pipeline's networks with a 2-step flow: these tests are about plumbing, not numbers."""
    exact = bundle.cached("acoustic.pipeline", lambda: Pipeline.load(bundle.config, mode=EXACT))
    return Pipeline(**{**vars(exact), "mode": Mode("plumbing", flow=FlowSettings(steps=2))})


@pytest.fixture(scope="module")
def clip(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = next(c for c in bundle.cases if c.id == "end_to_end_01_zh_spk_two_segments")
    path = tmp_path_factory.mktemp("voice") / "speaker.wav"
    soundfile.write(path, case.input("spk_audio")[0].numpy(), case.input("spk_sample_rate"), subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def voice(pipeline: Pipeline, clip: Path) -> VoicePrompt:
    return pipeline.prepare_voice(clip)


def _request(seed: int = 0, **kwargs: object) -> Request:
    fields = {"text": TWO_SEGMENTS, "max_text_tokens_per_segment": 14, "decoding": SHORT}
    return Request(**{**fields, **kwargs}, generator=torch.Generator().manual_seed(seed))  # type: ignore[arg-type]


def test_segments_are_joined_with_200_ms_of_silence(pipeline: Pipeline, voice: VoicePrompt) -> None:
    result = pipeline.synthesize(voice, _request())
    first, second = (segment.wav for segment in result.segments)
    gap = int(22050 * 0.2)
    assert result.wav.shape == (1, first.shape[1] + gap + second.shape[1])
    assert torch.equal(result.wav[:, first.shape[1] : first.shape[1] + gap], torch.zeros(1, gap))
    assert torch.equal(result.wav[:, -second.shape[1] :], second)
    assert result.wav.abs().max() <= 32767
    assert result.wav_int16.dtype == torch.int16
    assert torch.equal(result.wav_int16.float(), torch.trunc(result.wav))


def test_stream_yields_a_segment_before_generating_the_next(
    pipeline: Pipeline, voice: VoicePrompt, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = pipeline_module.generate

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_module, "generate", counting)
    stream: Iterator = pipeline.stream(voice, _request())
    first = next(stream)
    assert first.index == 0 and len(calls) == 1
    assert first.wav.shape[1] == first.s2mel.mel.shape[-1] * 256
    assert next(stream).index == 1 and len(calls) == 2


def test_noise_comes_from_the_generator(pipeline: Pipeline, voice: VoicePrompt) -> None:
    one = pipeline.synthesize(voice, _request(seed=3, text="Hello there."))
    same = pipeline.synthesize(voice, _request(seed=3, text="Hello there."))
    other = pipeline.synthesize(voice, _request(seed=4, text="Hello there."))
    assert torch.equal(one.wav, same.wav)
    assert one.wav.shape == other.wav.shape and not torch.equal(one.wav, other.wav)


def test_given_noise_must_match_the_segments(pipeline: Pipeline, voice: VoicePrompt) -> None:
    with pytest.raises(InvalidRequest, match="noise"):
        pipeline.synthesize(voice, _request(noise=[torch.zeros(1, 80, 10)]))


def test_emotion_vector_mixes_and_refuses_an_emotion_clip(pipeline: Pipeline, voice: VoicePrompt, clip: Path) -> None:
    vector = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8]
    segment = next(pipeline.stream(voice, _request(emo_vector=vector)))
    assert not torch.allclose(segment.emovec, segment.emovec_merged)
    with_clip = pipeline.prepare_voice(clip, emotion=clip)
    with pytest.raises(InvalidRequest, match="emotion vector"):
        pipeline.synthesize(with_clip, _request(emo_vector=vector))


HALF_GPT = Mode(
    "half",
    dit_dtype=torch.bfloat16,
    gpt="bfloat16",
    flow=FlowSettings(steps=2, cfg_rate=0.0),
    separate_emotion_pass=False,
)


@pytest.mark.parametrize("mode", [FAST, HALF_GPT], ids=lambda mode: mode.name)
def test_fast_modes_speak(bundle: Bundle, clip: Path, mode: Mode) -> None:
    """FAST (int8 GPT, CPU) and the half-precision GPT under autocast that FAST_GPU uses on a GPU."""
    fast = Pipeline.load(bundle.config, mode=mode)
    assert fast.mode.flow.steps < EXACT.flow.steps
    voice = fast.prepare_voice(clip)
    assert voice.emo_audio_16k is None  # the speaker features double as the emotion reference
    result = fast.synthesize(voice, _request(text="Hello there."))
    assert result.wav.shape[1] > 0 and torch.isfinite(result.wav).all()
    assert fast.s2mel.dit.cond_projection.weight.dtype == torch.bfloat16
