"""Generation: the reference's deterministic decoding (bundle cases), and sampling on hand-built distributions."""

from __future__ import annotations

import math

import pytest
import torch

from tts_engine.config import ModelConfig
from tts_engine.conformance import Bundle
from tts_engine.errors import InvalidRequest
from tts_engine.generation import (
    DecodingOptions,
    _move_histories,
    apply_repetition_penalty,
    codes_before_stop,
    generate,
    sample_next_token,
    top_k_filter,
    top_p_filter,
    warp,
)
from tts_engine.networks.gpt import KVCache, UnifiedVoice, reference_lengths


@pytest.fixture(scope="module")
def gpt(model_config: ModelConfig) -> UnifiedVoice:
    return UnifiedVoice.load(model_config)


def _generate_cases(bundle: Bundle) -> list:
    return [case for case in bundle.cases if case.component == "gpt_generate"]


def _prompt(gpt: UnifiedVoice, case) -> torch.Tensor:
    spk = case.input("spk_cond_emb")
    latents = gpt.speaker_latents(spk, reference_lengths(spk))
    return gpt.generation_prompt(latents, case.input("emovec"), case.input("text_tokens"))


def _options(case, **changes) -> DecodingOptions:
    args = case.args
    values = {
        "max_new_tokens": args["max_generate_length"],
        "num_beams": args["num_beams"],
        "repetition_penalty": args["repetition_penalty"],
        "length_penalty": args["length_penalty"],
        "do_sample": False,
    }
    return DecodingOptions(**(values | changes))


def _kept(scores: torch.Tensor) -> set[int]:
    return set(torch.isfinite(scores[0]).nonzero()[:, 0].tolist())


# -- the reference's deterministic decoding ---------------------------------------------------------------------


def test_greedy_and_beam_search_reproduce_every_bundle_case(bundle: Bundle, gpt: UnifiedVoice) -> None:
    cases = _generate_cases(bundle)
    assert {case.args["num_beams"] for case in cases} == {1, 3}
    for case in cases:
        codes = generate(gpt, _prompt(gpt, case), _options(case)).codes
        assert codes.tolist() == case.expected("codes")[0].tolist(), case.id
        stop = gpt.config.stop_mel_token
        assert len(codes_before_stop(codes, stop)) == case.expected("code_len"), case.id


def test_stop_token_ends_generation_and_max_new_tokens_caps_it(bundle: Bundle, gpt: UnifiedVoice) -> None:
    stop = gpt.config.stop_mel_token
    for case in _generate_cases(bundle):
        prompt = _prompt(gpt, case)
        full = generate(gpt, prompt, _options(case)).codes
        if full[-1] != stop:
            continue
        assert (full[:-1] != stop).all()
        assert full.shape[0] < case.args["max_generate_length"]
        capped = generate(gpt, prompt, _options(case, max_new_tokens=full.shape[0] - 5)).codes
        assert capped.shape[0] == full.shape[0] - 5
        assert (capped != stop).all()
        return
    pytest.fail("no bundle case emits the stop token")


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_scores() -> None:
    scores = torch.tensor([[2.0, -2.0, 1.0, 0.0]])
    seen = torch.tensor([[True, True, False, True]])
    expected = torch.tensor([[2.0 / 10.0, -2.0 * 10.0, 1.0, 0.0]])
    assert torch.equal(apply_repetition_penalty(scores, seen, 10.0), expected)


def test_codes_before_stop_cuts_at_the_first_stop() -> None:
    assert codes_before_stop(torch.tensor([4, 5, 9, 6, 9]), 9).tolist() == [4, 5]
    assert codes_before_stop(torch.tensor([4, 5]), 9).tolist() == [4, 5]


def test_moving_beam_histories_equals_reordering_the_whole_cache() -> None:
    prompt_length = 2
    codes = torch.tensor([[5, 6, 7, 8, 9, 1], [5, 6, 7, 2, 3, 4], [5, 0, 1, 2, 3, 4]])
    # As with real keys and values, a position's content depends only on the codes up to it: number each prefix.
    prefixes: dict[tuple[int, ...], int] = {}
    contents = [[prefixes.setdefault(tuple(row[: t + 1]), len(prefixes)) for t in range(6)] for row in codes.tolist()]
    generated = torch.cat([torch.full((3, prompt_length), -1.0), torch.tensor(contents, dtype=torch.float32)], 1)
    keys = generated[None, :, None, :, None]
    for parents in ([1, 1, 0], [0, 0, 0], [2, 0, 1], [0, 1, 2]):
        cache = KVCache(keys.clone(), keys.clone())
        _move_histories(cache, codes, parents, prompt_length, codes.shape[1])
        assert torch.equal(cache.keys, keys[:, parents]), parents
        assert torch.equal(cache.values, keys[:, parents]), parents


# -- filters on hand-built distributions ------------------------------------------------------------------------


def test_top_k_keeps_exactly_the_k_highest_ids() -> None:
    scores = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    assert _kept(top_k_filter(scores, 2)) == {1, 3}
    assert _kept(top_k_filter(scores, 1, min_keep=2)) == {1, 3}
    assert _kept(top_k_filter(scores, 10)) == {0, 1, 2, 3, 4}
    # Ties with the last kept score stay (HF's threshold rule).
    assert _kept(top_k_filter(torch.tensor([[1.0, 2.0, 2.0, 0.0]]), 1)) == {1, 2}


def test_top_p_keeps_the_fewest_most_likely_ids_reaching_p() -> None:
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
    scores = probs.log()
    assert _kept(top_p_filter(scores, 0.4)) == {1}
    assert _kept(top_p_filter(scores, 0.75)) == {1, 3}
    assert _kept(top_p_filter(scores, 0.85)) == {0, 1, 3}
    assert _kept(top_p_filter(scores, 1.0)) == {0, 1, 2, 3}
    assert _kept(top_p_filter(scores, 0.4, min_keep=2)) == {1, 3}
    # Kept scores are untouched, dropped ones are -inf.
    filtered = top_p_filter(scores, 0.75)
    assert filtered[0, 1] == scores[0, 1] and filtered[0, 0] == -math.inf


def test_warp_applies_temperature_before_top_p() -> None:
    scores = torch.tensor([[0.6, 0.3, 0.1]]).log()
    # At temperature 1, 0.6 < 0.65 needs two ids; sharpened by temperature 0.5 (0.78, 0.20, 0.02) one is enough.
    assert _kept(warp(scores, DecodingOptions(temperature=1.0, top_k=0, top_p=0.65))) == {0, 1}
    assert _kept(warp(scores, DecodingOptions(temperature=0.5, top_k=0, top_p=0.65))) == {0}


def test_sampling_draws_only_kept_ids_in_proportion() -> None:
    scores = torch.tensor([[0.7, 0.2, 0.08, 0.02]]).log().expand(4000, -1)
    generator = torch.Generator().manual_seed(0)
    plain = sample_next_token(scores, DecodingOptions(do_sample=True, temperature=1.0, top_k=0, top_p=1.0), generator)
    frequencies = torch.bincount(plain, minlength=4).float() / plain.numel()
    assert torch.allclose(frequencies, torch.tensor([0.7, 0.2, 0.08, 0.02]), atol=0.03)
    top2 = sample_next_token(scores, DecodingOptions(do_sample=True, temperature=1.0, top_k=2, top_p=1.0), generator)
    assert set(top2.tolist()) == {0, 1}


def test_a_seeded_draw_is_reproducible() -> None:
    scores = torch.randn(16, 50, generator=torch.Generator().manual_seed(3))
    options = DecodingOptions(do_sample=True, temperature=1.0, top_k=20, top_p=0.9)
    first = sample_next_token(scores, options, torch.Generator().manual_seed(7))
    again = sample_next_token(scores, options, torch.Generator().manual_seed(7))
    other = sample_next_token(scores, options, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_temperature_zero_is_argmax_whatever_the_seed() -> None:
    scores = torch.randn(8, 30, generator=torch.Generator().manual_seed(1))
    options = DecodingOptions(do_sample=True, temperature=0.0)
    for seed in range(3):
        picked = sample_next_token(scores, options, torch.Generator().manual_seed(seed))
        assert torch.equal(picked, scores.argmax(dim=-1))


# -- sampling through the model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("beams", [1, 3])
def test_seeded_generation_is_reproducible(bundle: Bundle, gpt: UnifiedVoice, beams: int) -> None:
    case = _generate_cases(bundle)[0]
    prompt = _prompt(gpt, case)
    options = _options(case, num_beams=beams, do_sample=True, temperature=1.0, top_k=30, top_p=0.95)
    runs = {seed: generate(gpt, prompt, options, torch.Generator().manual_seed(seed)).codes for seed in (0, 0, 1, 2)}
    again = generate(gpt, prompt, options, torch.Generator().manual_seed(0)).codes
    assert torch.equal(runs[0], again)
    assert any(not torch.equal(runs[0], runs[seed]) for seed in (1, 2))
    for codes in runs.values():
        assert codes.shape[0] <= options.max_new_tokens


@pytest.mark.parametrize("beams", [1, 3])
def test_generation_at_temperature_zero_is_the_deterministic_search(
    bundle: Bundle, gpt: UnifiedVoice, beams: int
) -> None:
    case = next(c for c in _generate_cases(bundle) if c.args["num_beams"] == beams)
    prompt = _prompt(gpt, case)
    deterministic = generate(gpt, prompt, _options(case)).codes
    for seed in (0, 1):
        cold = generate(
            gpt, prompt, _options(case, do_sample=True, temperature=0.0), torch.Generator().manual_seed(seed)
        ).codes
        assert torch.equal(cold, deterministic)


def test_more_codes_than_mel_positions_are_refused(bundle: Bundle, gpt: UnifiedVoice) -> None:
    prompt = _prompt(gpt, _generate_cases(bundle)[0])
    with pytest.raises(InvalidRequest, match="at most"):
        generate(gpt, prompt, DecodingOptions(max_new_tokens=gpt.config.mel_positions))


def test_invalid_options_are_refused() -> None:
    for bad in ({"num_beams": 0}, {"max_new_tokens": 0}, {"top_p": 0.0}, {"temperature": -1.0}, {"top_k": -2}):
        with pytest.raises(InvalidRequest):
            DecodingOptions(**bad)
