"""Emotion control: the audio blend, the 8-value path against the bundle, presets and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tts_engine.config import ModelConfig
from tts_engine.conformance import Bundle
from tts_engine.emotion import (
    EMOTIONS,
    PRESETS,
    EmotionMatrices,
    blend,
    check_emotion_vector,
    merge_emovec,
    mix_emotions,
    preset_vector,
    scale_emotions,
)
from tts_engine.errors import InvalidRequest, ModelFolderError
from tts_engine.networks.gpt import UnifiedVoice, reference_lengths
from tts_engine.pipeline import EXACT, Pipeline


@pytest.fixture(scope="module")
def matrices(model_config: ModelConfig) -> EmotionMatrices:
    return EmotionMatrices.load(model_config)


def _cases(bundle: Bundle, component: str) -> list:
    return [case for case in bundle.cases if case.component == component]


def _atol(case, name: str) -> float:
    return next(item.tolerance.atol for item in case.outputs if item.name == name)


def test_matrices_are_split_by_emo_num(model_config: ModelConfig, matrices: EmotionMatrices) -> None:
    sizes = list(model_config.emo_num)
    assert [group.shape[0] for group in matrices.speaker] == sizes
    assert [group.shape[0] for group in matrices.emotion] == sizes
    assert matrices.emotion[0].shape[1] == model_config.raw["gpt"]["model_dim"]


def test_matrices_not_matching_emo_num_are_refused(model_config: ModelConfig, tmp_path: Path) -> None:
    torch.save(torch.zeros(5, 3), tmp_path / "feat1.pt")
    torch.save(torch.zeros(5, 3), tmp_path / "feat2.pt")
    broken = ModelConfig(model_dir=tmp_path, raw=model_config.raw, constants=model_config.constants)
    with pytest.raises(ModelFolderError, match=r"feat1\.pt"):
        EmotionMatrices.load(broken)


@torch.inference_mode()
def test_eight_value_path_matches_the_reference(bundle: Bundle, matrices: EmotionMatrices) -> None:
    cases = _cases(bundle, "emotion_vector")
    assert cases
    for case in cases:
        mix = mix_emotions(case.input("emo_vector"), case.input("emo_alpha"), case.input("style"), matrices)
        assert mix.indices.tolist() == case.expected("indices").tolist(), case.id
        for name, actual in (
            ("emo_vector_scaled", mix.weights),
            ("emovec_mat", mix.vector),
            ("emovec_final", mix.apply(case.input("emovec"))),
        ):
            expected = case.expected(name)
            assert actual.shape == expected.shape and actual.dtype == expected.dtype
            assert (actual - expected).abs().max() <= _atol(case, name), (case.id, name)


@torch.inference_mode()
def test_merge_emovec_blends_the_two_clips(bundle: Bundle, model_config: ModelConfig) -> None:
    gpt = UnifiedVoice.load(model_config)
    case = _cases(bundle, "gpt_conditioning")[0]
    spk, emo = case.input("spk_cond_emb"), case.input("emo_cond_emb")
    for name, alpha in zip(case.args["merged_names"], case.args["alphas"], strict=True):
        merged = merge_emovec(gpt, spk, emo, reference_lengths(spk), reference_lengths(emo), alpha)
        assert (merged - case.expected(name)).abs().max() <= _atol(case, name), name


@torch.inference_mode()
def test_without_an_emotion_clip_a_voice_reuses_the_emotion_clips_vector(bundle: Bundle) -> None:
    # Alpha is 1 without an emotion clip, so the speaker clip's own vector only enters the blend through rounding.
    pipeline = bundle.cached("acoustic.pipeline", lambda: Pipeline.load(bundle.config, mode=EXACT))
    case = next(c for c in bundle.cases if c.id == "end_to_end_00_en_spk_zh_text")
    speaker, emotion = case.input("spk_audio"), case.expected("emo_audio_16k")  # speaker clip at 22.05 kHz
    voice = pipeline.prepare_voice_audio(speaker, emotion, has_emotion_clip=False)
    spk = voice.conditioning.spk_cond_emb
    own = pipeline.gpt.emotion_vector(spk, reference_lengths(spk))
    assert voice.emovec_spk is voice.emovec_emo
    assert not torch.allclose(own, voice.emovec_emo)  # the two clips' features, and vectors, do differ
    reference = blend(own, voice.emovec_emo, 1.0)
    ulp = torch.finfo(torch.float32).eps * float(own.abs().max() + voice.emovec_emo.abs().max())
    assert float((blend(voice.emovec_spk, voice.emovec_emo, 1.0) - reference).abs().max()) <= ulp


def test_blend_endpoints() -> None:
    base, target = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -2.0]])
    assert torch.equal(blend(base, target, 0.0), base)
    assert torch.equal(blend(base, target, 1.0), target)
    assert torch.equal(blend(base, target, 0.5), torch.tensor([[2.0, 0.0]]))


def test_alpha_is_clamped_and_truncates_to_four_decimals() -> None:
    values = [0.12345, 0.5, 0.0, 0.99999, 0.0, 0.0, 0.0, 0.3]
    assert scale_emotions(values, 1.0) == values
    assert scale_emotions(values, 1.7) == values  # clamped to 1: unchanged, not truncated
    assert scale_emotions(values, 0.5) == [0.0617, 0.25, 0.0, 0.4999, 0.0, 0.0, 0.0, 0.15]
    assert scale_emotions(values, -1.0) == [0.0] * 8


def test_presets_are_valid_vectors_scaled_by_intensity() -> None:
    assert {"calm", "urgent", "reassuring", "concerned"} <= set(PRESETS)
    for name, values in PRESETS.items():
        assert len(values) == len(EMOTIONS)
        assert sum(values) <= 0.8 + 1e-9, name
        assert check_emotion_vector(values) == list(values)
    assert preset_vector("calm")[EMOTIONS.index("calm")] == PRESETS["calm"][EMOTIONS.index("calm")]
    assert preset_vector("urgent", 0.5) == [v * 0.5 for v in PRESETS["urgent"]]
    assert preset_vector("urgent", 0.0) == [0.0] * 8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: preset_vector("furious"), "unknown emotion preset"),
        (lambda: preset_vector("calm", 1.5), "intensity"),
        (lambda: check_emotion_vector([0.1] * 7), "8 values"),
        (lambda: check_emotion_vector([0.1] * 7 + [-0.2]), "non-negative"),
        (lambda: check_emotion_vector([0.1] * 7 + [float("nan")]), "finite"),
    ],
)
def test_bad_emotion_requests_are_refused(call, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        call()
