"""Voice conditioning: the clip → conditioning stage against the bundle's end-to-end intermediates."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tts_engine.conditioning import VoiceConditioner, VoiceConditioning, load_length_regulator, load_voice_conditioner
from tts_engine.config import ModelConfig
from tts_engine.conformance import Bundle, Case

# VoiceConditioning field → name of the end_to_end intermediate holding the reference's value.
INTERMEDIATES = {
    "spk_cond_emb": "spk_cond_emb",
    "s_ref_codes": "S_ref_codes",
    "s_ref": "S_ref",
    "ref_mel": "ref_mel",
    "style": "style",
    "prompt_condition": "prompt_condition",
    "emo_cond_emb": "emo_cond_emb",
}


@pytest.fixture(scope="module")
def conditioner(model_config: ModelConfig) -> VoiceConditioner:
    return load_voice_conditioner(model_config)


def _speaker_clip_22k(case: Case) -> torch.Tensor:
    """The speaker clip at 22.05 kHz as the reference had it (librosa-loaded, i.e. soxr-resampled if needed)."""
    if case.input("spk_sample_rate") == 22050:
        return case.input("spk_audio")
    return case.expected("audio_22k")


@pytest.mark.parametrize("case_id", ["end_to_end_00_en_spk_zh_text", "end_to_end_02_emo_audio_alpha_beams3"])
def test_matches_the_reference_intermediates(bundle: Bundle, conditioner: VoiceConditioner, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = conditioner(_speaker_clip_22k(case), case.expected("emo_audio_16k"))
    for field, name in INTERMEDIATES.items():
        actual, expected = getattr(result, field), case.expected(name)
        item = next(i for i in case.outputs if i.name == name)
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, name
        if item.tolerance.kind == "exact":
            assert torch.equal(actual, expected), name
        else:
            assert float((actual - expected).abs().max()) <= item.tolerance.atol, name


def test_w2v_bert_passes_are_shared_where_the_clips_allow(
    bundle: Bundle, conditioner: VoiceConditioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in bundle.cases if c.id == "end_to_end_00_en_spk_zh_text")
    clip = _speaker_clip_22k(case)
    emotion = case.expected("emo_audio_16k")
    calls: list[tuple[int, ...]] = []
    embed = conditioner.w2v_bert.embed
    monkeypatch.setattr(conditioner.w2v_bert, "embed", lambda audio: calls.append(tuple(audio.shape)) or embed(audio))

    alone = conditioner(clip)
    same = conditioner(clip, conditioner.to_16k(clip))
    other = conditioner(clip, emotion)
    shorter = conditioner(clip, emotion[:, :-160])

    assert alone.emo_cond_emb is alone.spk_cond_emb
    assert same.emo_cond_emb is same.spk_cond_emb
    assert other.emo_cond_emb is not other.spk_cond_emb
    assert shorter.emo_cond_emb.shape[1] < shorter.spk_cond_emb.shape[1]
    n = emotion.shape[1]
    # One pass each for the first two, both clips as one batch for the third, two passes for clips of two lengths.
    assert calls == [(1, n), (1, n), (2, n), (1, n), (1, n - 160)]


@torch.inference_mode()
def test_a_batch_of_two_clips_gives_each_clips_own_features(bundle: Bundle, conditioner: VoiceConditioner) -> None:
    case = next(c for c in bundle.cases if c.id == "end_to_end_02_emo_audio_alpha_beams3")
    speaker, emotion = conditioner.to_16k(_speaker_clip_22k(case)), case.expected("emo_audio_16k")
    n = min(speaker.shape[1], emotion.shape[1])
    speaker, emotion = speaker[:, :n], emotion[:, :n]
    both = conditioner.semantic_features(torch.cat([speaker, emotion]))
    torch.testing.assert_close(both[:1], conditioner.semantic_features(speaker), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(both[1:], conditioner.semantic_features(emotion), rtol=1e-5, atol=1e-5)


def test_result_is_frozen(bundle: Bundle, conditioner: VoiceConditioner) -> None:
    case = next(c for c in bundle.cases if c.id == "end_to_end_00_en_spk_zh_text")
    result = conditioner(_speaker_clip_22k(case)[:, :22050])
    assert isinstance(result, VoiceConditioning)
    assert result.prompt_condition.shape[1] == result.ref_mel.shape[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.style = torch.zeros(1)  # type: ignore[misc]


def test_a_given_length_regulator_is_shared(model_config: ModelConfig) -> None:
    regulator = load_length_regulator(model_config)
    assert load_voice_conditioner(model_config, length_regulator=regulator).length_regulator is regulator
