"""UnifiedVoice: checkpoint layout (tiny and full size), teacher-forced pass, and the KV cache against a full pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

from tts_engine.config import ModelConfig, official_config
from tts_engine.conformance import Bundle
from tts_engine.errors import ModelFolderError
from tts_engine.generation import DecodingOptions, codes_before_stop, decode_step, generate, prefill
from tts_engine.loading import assert_keys, on_meta, read_tensors
from tts_engine.networks.gpt import (
    GptConfig,
    KVCache,
    UnifiedVoice,
    quantize_int8,
    reference_lengths,
)


@pytest.fixture(scope="module")
def gpt(model_config: ModelConfig) -> UnifiedVoice:
    return UnifiedVoice.load(model_config)


def _cases(bundle: Bundle, component: str) -> list:
    return [case for case in bundle.cases if case.component == component]


def _atol(case, name: str) -> float:
    return next(item.tolerance.atol for item in case.outputs if item.name == name)


def test_full_size_keys_and_parameter_count_match_the_official_checkpoint(bundle_dir: Path) -> None:
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())
    model = on_meta(lambda: UnifiedVoice(GptConfig.from_model_config(official_config())))
    assert_keys(model, listing["files"]["gpt.pth"], source="gpt.pth")
    assert len(model.state_dict()) == listing["parameter_counts"]["gpt.pth"]["tensors"] == 665
    assert sum(p.numel() for p in model.parameters()) == listing["parameter_counts"]["gpt.pth"]["parameters"]


def test_full_size_config_reproduces_the_reference_rules() -> None:
    config = GptConfig.from_model_config(official_config())
    assert (config.dim, config.layers, config.heads, config.head_dim) == (1280, 24, 20, 64)
    assert config.text_vocab == 12001  # number_text_tokens * types + 1
    assert config.text_positions == 602 and config.mel_positions == 1818
    assert config.prefix_length == 34  # 32 speaker latents + 2 speed rows
    assert config.emo_latent_dim == 1024


def test_state_dict_round_trips_the_conv1d_layout_of_the_file(model_config: ModelConfig, gpt: UnifiedVoice) -> None:
    stored = read_tensors(model_config.file("gpt.pth"))
    ours = gpt.state_dict()
    assert set(ours) == set(stored)
    for key, tensor in stored.items():
        assert torch.equal(ours[key], tensor), key
    # Internally the projections are nn.Linear [out, in]; the file has Conv1D [in, out].
    block = gpt.gpt.h[0]
    assert torch.equal(block.attn.c_attn.weight, stored["gpt.h.0.attn.c_attn.weight"].t())
    assert block.mlp.c_fc.weight.shape == (4 * gpt.config.dim, gpt.config.dim)


def test_a_checkpoint_with_a_missing_tensor_is_refused_naming_file_and_key(
    model_config: ModelConfig, tmp_path: Path
) -> None:
    state = dict(read_tensors(model_config.file("gpt.pth")))
    del state["mel_head.bias"]
    torch.save(state, tmp_path / "gpt.pth")
    broken = ModelConfig(model_dir=tmp_path, raw=model_config.raw, constants=model_config.constants)
    with pytest.raises(ModelFolderError, match=r"gpt\.pth.*mel_head\.bias"):
        UnifiedVoice.load(broken)


def test_a_wrapped_checkpoint_loads_too(model_config: ModelConfig, gpt: UnifiedVoice, tmp_path: Path) -> None:
    torch.save({"model": dict(read_tensors(model_config.file("gpt.pth")))}, tmp_path / "gpt.pth")
    wrapped = UnifiedVoice.load(ModelConfig(model_dir=tmp_path, raw=model_config.raw, constants=model_config.constants))
    assert torch.equal(wrapped.mel_head.weight, gpt.mel_head.weight)


@torch.inference_mode()
def test_forward_matches_the_reference_latents(bundle: Bundle, gpt: UnifiedVoice) -> None:
    cases = _cases(bundle, "gpt_forward")
    assert cases
    for case in cases:
        latent = gpt(
            case.input("speech_conditioning_latent"),
            case.input("text_tokens"),
            case.input("codes"),
            case.input("emovec"),
        )
        expected = case.expected("latent")
        assert latent.shape == expected.shape
        assert (latent - expected).abs().max() <= _atol(case, "latent"), case.id


@torch.inference_mode()
def test_conditioning_uses_the_reference_lengths_rule(bundle: Bundle, gpt: UnifiedVoice) -> None:
    case = next(c for c in _cases(bundle, "gpt_conditioning") if c.id.endswith("as_infer"))
    spk = case.input("spk_cond_emb")
    assert reference_lengths(spk).tolist() == case.input("cond_lengths").tolist() == [spk.shape[-1]]
    latents = gpt.speaker_latents(spk, reference_lengths(spk))
    expected = case.expected("speech_conditioning_latent")
    assert (latents - expected).abs().max() <= _atol(case, "speech_conditioning_latent")
    # Counting frames instead (the "obvious" length) gives other numbers on this tiny model.
    by_frames = gpt.speaker_latents(spk, torch.tensor([spk.shape[1]]))
    assert (by_frames - expected).abs().max() > 100 * _atol(case, "speech_conditioning_latent")


def _prompt_and_codes(bundle: Bundle, gpt: UnifiedVoice) -> tuple[torch.Tensor, torch.Tensor]:
    case = _cases(bundle, "gpt_generate")[0]
    spk = case.input("spk_cond_emb")
    latents = gpt.speaker_latents(spk, reference_lengths(spk))
    prompt = gpt.generation_prompt(latents, case.input("emovec"), case.input("text_tokens"))
    return prompt, case.expected("codes")[0]


@torch.inference_mode()
def test_cached_decoding_equals_a_full_forward(bundle: Bundle, gpt: UnifiedVoice) -> None:
    prompt, codes = _prompt_and_codes(bundle, gpt)
    p, n = prompt.shape[1], codes.shape[0]
    # Full pass: generated code k sits at mel position k + 1, as generation embeds it.
    full_input = torch.cat([prompt, gpt.mel_inputs(codes[None], 2)], dim=1)
    full = gpt.logits(gpt.gpt(full_input))[0, p - 1 :]

    cache = KVCache.allocate(gpt.config, 1, p + n, dtype=prompt.dtype, device=prompt.device)
    logits, _ = prefill(gpt, prompt, cache)
    stepped = [logits[0]]
    for step in range(1, n + 1):
        stepped.append(decode_step(gpt, codes[step - 1 : step], step, p, cache)[0])
    assert torch.allclose(torch.stack(stepped), full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("beams", [1, 3])
@torch.inference_mode()
def test_latents_after_the_prompt_equal_the_full_teacher_forced_pass(
    bundle: Bundle, gpt: UnifiedVoice, beams: int
) -> None:
    # The pipeline continues from the generation's cache instead of running the prompt again (a third of the
    # teacher-forced pass at full size); the latents must be forward's, whatever the decoding left in the cache.
    case = _cases(bundle, "gpt_generate")[0]
    spk, emovec, text = case.input("spk_cond_emb"), case.input("emovec"), case.input("text_tokens")
    latents = gpt.speaker_latents(spk, reference_lengths(spk))
    options = DecodingOptions(max_new_tokens=20, num_beams=beams)
    generation = generate(gpt, gpt.generation_prompt(latents, emovec, text), options)
    codes = codes_before_stop(generation.codes, gpt.config.stop_mel_token)[None]
    assert codes.shape[1] > 1 and gpt.prompt_starts_forward(text)
    full = gpt(latents, text, codes, emovec)
    continued = gpt.latents_after_prompt(codes, generation.cache, generation.prompt_length, generation.prompt_hidden)
    assert continued.shape == full.shape == (1, codes.shape[1], gpt.config.dim)
    assert torch.allclose(continued, full, rtol=0, atol=1e-5)


def test_a_text_holding_a_text_boundary_token_does_not_start_the_teacher_forced_input(gpt: UnifiedVoice) -> None:
    # Generation drops start/stop text tokens from the text and the teacher-forced pass keeps them, so the pipeline
    # runs the full pass for such a text.
    c = gpt.config
    assert gpt.prompt_starts_forward(torch.tensor([[5, 6, 7]]))
    assert not gpt.prompt_starts_forward(torch.tensor([[5, c.stop_text_token, 7]]))
    assert not gpt.prompt_starts_forward(torch.tensor([[c.start_text_token, 6]]))


@torch.inference_mode()
def test_batched_rows_equal_separate_runs_after_a_shared_prefill(bundle: Bundle, gpt: UnifiedVoice) -> None:
    prompt, codes = _prompt_and_codes(bundle, gpt)
    p = prompt.shape[1]
    one_row = KVCache.allocate(gpt.config, 1, p, dtype=prompt.dtype, device=prompt.device)
    prefill(gpt, prompt, one_row)
    two_rows = one_row.expanded(2, p + 4, p)
    rows = torch.stack([codes[:4], codes[4:8]])
    batched = [decode_step(gpt, rows[:, k - 1], k, p, two_rows) for k in range(1, 5)]
    for r in range(2):
        single = one_row.expanded(1, p + 4, p)
        for k in range(1, 5):
            alone = decode_step(gpt, rows[r : r + 1, k - 1], k, p, single)
            assert torch.allclose(batched[k - 1][r], alone[0], rtol=0, atol=1e-5)


@torch.inference_mode()
def test_copy_rows_moves_the_given_positions_and_reads_before_writing() -> None:
    keys = torch.arange(2 * 3 * 1 * 5 * 1, dtype=torch.float32).view(2, 3, 1, 5, 1)
    cache = KVCache(keys.clone(), keys.clone())
    cache.copy_rows([0, 1], [1, 0], 3, 5)  # a swap: each row must get the other's old positions
    assert torch.equal(cache.keys[:, :, :, :3], keys[:, :, :, :3])
    assert torch.equal(cache.keys[:, :, :, 3:5], keys[:, [1, 0, 2], :, 3:5])
    assert torch.equal(cache.values, cache.keys)


def test_cache_overflow_is_refused() -> None:
    cache = KVCache(torch.zeros(1, 1, 1, 2, 1), torch.zeros(1, 1, 1, 2, 1))
    with pytest.raises(ValueError, match="holds 2 positions"):
        cache.store(0, 2, torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))


@torch.inference_mode()
def test_fast_mode_quantises_the_decoder_and_stays_close(bundle: Bundle, model_config: ModelConfig) -> None:
    exact = UnifiedVoice.load(model_config)
    fast = quantize_int8(UnifiedVoice.load(model_config))
    assert isinstance(fast.gpt.h[0].attn.c_attn, DynamicQuantizedLinear)
    assert isinstance(fast.mel_head, DynamicQuantizedLinear)
    assert type(fast.emo_layer) is torch.nn.Linear  # conditioning stays float32
    case = _cases(bundle, "gpt_forward")[0]
    inputs = [case.input(n) for n in ("speech_conditioning_latent", "text_tokens", "codes", "emovec")]
    error = (fast(*inputs) - exact(*inputs)).abs().max()
    assert 0 < error < 0.1
    prompt, _ = _prompt_and_codes(bundle, fast)
    codes = generate(fast, prompt, DecodingOptions(max_new_tokens=30, num_beams=3)).codes
    assert 0 < codes.shape[0] <= 30
    assert ((codes >= 0) & (codes < fast.config.mel_vocab)).all()
