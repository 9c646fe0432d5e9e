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


def test_one_w2v_bert_pass_when_the_emotion_clip_is_the_speaker_clip(
    bundle: Bundle, conditioner: VoiceConditioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in bundle.cases if c.id == "end_to_end_00_en_spk_zh_text")
    clip = _speaker_clip_22k(case)
    calls: list[int] = []
    embed = conditioner.w2v_bert.embed
    monkeypatch.setattr(conditioner.w2v_bert, "embed", lambda audio: calls.append(audio.shape[-1]) or embed(audio))

    alone = conditioner(clip)
    same = conditioner(clip, conditioner.to_16k(clip))
    other = conditioner(clip, case.expected("emo_audio_16k"))

    assert alone.emo_cond_emb is alone.spk_cond_emb
    assert same.emo_cond_emb is same.spk_cond_emb
    assert other.emo_cond_emb is not other.spk_cond_emb
    assert len(calls) == 4  # one pass each for the first two calls, two for the last


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
