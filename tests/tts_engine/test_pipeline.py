"""The whole pipeline on the bundle's tiny model: joining, streaming, noise, emotion rules, duration, fast mode.

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
from tts_engine.pipeline import EXACT, FAST, Mode, Pipeline, Request, Synthesis, VoicePrompt, share

TWO_SEGMENTS = "Hello there, this is a test. 我们终于赢得了比赛！"
SHORT = DecodingOptions(max_new_tokens=6, num_beams=1)
# Enough codes for about 2.5 s of speech over the two segments, so that a 3 s target is within 0.5x-2x.
LONGER = DecodingOptions(max_new_tokens=60, num_beams=1)
HOP = 256  # samples per mel frame of the bundle's BigVGAN


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


@pytest.fixture(scope="module")
def natural(pipeline: Pipeline, voice: VoicePrompt) -> Synthesis:
    return pipeline.synthesize(voice, _request(decoding=LONGER))


@pytest.mark.parametrize("ratio", [0.9, 1.5])
def test_a_length_scale_scales_the_mel_frames_and_the_silences(
    pipeline: Pipeline, voice: VoicePrompt, natural: Synthesis, ratio: float
) -> None:
    scaled = pipeline.synthesize(voice, _request(decoding=LONGER, length_scale=ratio))
    assert len(scaled.segments) == len(natural.segments) == 2
    assert abs(scaled.wav.shape[1] - ratio * natural.wav.shape[1]) <= HOP * len(scaled.segments)
    for plain, longer in zip(natural.segments, scaled.segments, strict=True):
        assert torch.equal(plain.codes, longer.codes)  # the same speech, only its length changes
        assert longer.s2mel.mel.shape[-1] == round(plain.s2mel.mel.shape[-1] * ratio)
        assert longer.wav.shape[1] == longer.s2mel.mel.shape[-1] * HOP
    assert scaled.segments[1].silence_before == int(22050 * 0.2 * ratio)


def test_a_target_length_is_met_within_a_frame_per_segment(
    pipeline: Pipeline, voice: VoicePrompt, natural: Synthesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = pipeline_module.generate

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_module, "generate", counting)
    stream = pipeline.stream(voice, _request(decoding=LONGER, target_seconds=3.0))
    first = next(stream)
    assert len(calls) == 2  # every segment's codes exist before the first audio
    result = pipeline.join([first, *stream])
    target = 3 * 22050
    assert abs(result.wav.shape[1] - target) <= HOP * len(result.segments)
    ratio = target / natural.wav.shape[1]
    assert result.segments[1].silence_before == int(22050 * 0.2 * ratio)
    # the frames are shared in proportion to the segments' natural lengths
    for plain, fitted in zip(natural.segments, result.segments, strict=True):
        assert abs(fitted.s2mel.mel.shape[-1] - plain.s2mel.mel.shape[-1] * ratio) < 1.5


def test_lengths_beyond_half_and_double_are_refused(pipeline: Pipeline, voice: VoicePrompt) -> None:
    for scale in (0.4, 2.5):
        with pytest.raises(InvalidRequest, match=r"between 0\.5x and 2x"):
            Request(text="Hello.", length_scale=scale)
    with pytest.raises(InvalidRequest, match="not both"):
        Request(text="Hello.", length_scale=1.2, target_seconds=3.0)
    with pytest.raises(InvalidRequest, match="positive"):
        Request(text="Hello.", target_seconds=0.0)
    with pytest.raises(InvalidRequest, match=r"60 s target .* between 0\.5x and 2x"):
        pipeline.synthesize(voice, _request(target_seconds=60.0))


@pytest.mark.parametrize(("total", "weights"), [(10, [1, 1, 1]), (258, [101, 101]), (7, [3, 5, 9]), (100, [1, 99])])
def test_share_splits_exactly_and_in_proportion(total: int, weights: list[int]) -> None:
    parts = share(total, weights)
    assert sum(parts) == total
    assert all(abs(part - total * w / sum(weights)) < 1 for part, w in zip(parts, weights, strict=True))


def test_share_gives_every_segment_a_frame() -> None:
    assert share(2, [1, 100]) == [1, 2]


HALF_GPT = Mode(
    "half",
    dit_dtype=torch.bfloat16,
    gpt="bfloat16",
    flow=FlowSettings(steps=2, cfg_rate=0.0),
    separate_emotion_pass=False,
)


@pytest.mark.parametrize("mode", [FAST, HALF_GPT], ids=lambda mode: mode.name)
def test_fast_modes_speak(bundle: Bundle, clip: Path, mode: Mode) -> None:
    """FAST (int8 GPT, CPU) and a half-precision GPT under autocast (the option a GPU deployment may choose)."""
    fast = Pipeline.load(bundle.config, mode=mode)
    assert fast.mode.flow.steps < EXACT.flow.steps
    voice = fast.prepare_voice(clip)
    assert voice.emo_audio_16k is None  # the speaker features double as the emotion reference
    result = fast.synthesize(voice, _request(text="Hello there."))
    assert result.wav.shape[1] > 0 and torch.isfinite(result.wav).all()
    assert fast.s2mel.dit.cond_projection.weight.dtype == torch.bfloat16
