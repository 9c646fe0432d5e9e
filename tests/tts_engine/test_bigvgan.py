"""BigVGAN: config, full-size keys, anti-aliased SnakeBeta and the bundle's vocoder cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tts_engine.config import ModelConfig, official_config
from tts_engine.conformance import Bundle
from tts_engine.conformance.runner import discover_adapters, run_case
from tts_engine.loading import assert_keys, expected_shapes, fold_weight_norm, on_meta, read_tensors, sub_state
from tts_engine.networks.bigvgan import (
    WEIGHTS_FILE,
    AliasFreeSnakeBeta,
    BigVGAN,
    BigVGANArgs,
    checkpoint_key,
    load_bigvgan,
)


@pytest.fixture(scope="module")
def vocoder(model_config: ModelConfig) -> BigVGAN:
    return load_bigvgan(model_config)


def test_full_size_keys_match_the_official_checkpoint(bundle_dir: Path) -> None:
    keys = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())
    listing = keys["files"]["hf_cache/bigvgan/bigvgan_generator.pt"]
    expected = {checkpoint_key(k): v for k, v in expected_shapes(listing, "generator").items()}
    args = BigVGANArgs.from_model_config(official_config())  # the released config.json's architecture
    assert args.hop_size == 256 and args.upsample_initial_channel == 1536
    assert_keys(on_meta(lambda: BigVGAN(args)), expected, source="full-size-keys.json [bigvgan_generator.pt]")


def test_checkpoint_key_mapping() -> None:
    assert checkpoint_key("ups.3.0.weight_g") == "ups.3.weight_g"
    assert checkpoint_key("resblocks.4.activations.5.act.beta") == "resblocks.4.activations.5.beta"
    assert checkpoint_key("activation_post.downsample.lowpass.filter") == "activation_post.downsample_filter"
    assert checkpoint_key("activation_post.upsample.filter") == "activation_post.upsample_filter"


def test_computed_filters_equal_the_stored_ones(model_config: ModelConfig, vocoder: BigVGAN) -> None:
    fresh = BigVGAN(BigVGANArgs.from_model_config(model_config))
    for name, stored in vocoder.named_buffers():
        assert torch.allclose(fresh.get_buffer(name), stored, atol=1e-7), name


def test_loaded_weights_are_the_files_stored_channels_last(model_config: ModelConfig, vocoder: BigVGAN) -> None:
    """Loading assigns the file's tensors; the post-load hook re-stores the convolution weights with input
    channels innermost (what the channels-last convolutions read) without changing a value."""
    path = model_config.file(WEIGHTS_FILE)
    state = {
        checkpoint_key(k): v
        for k, v in fold_weight_norm(sub_state(read_tensors(path), "generator", source=path)).items()
    }
    convs = [name for name, m in vocoder.named_modules() if type(m) is torch.nn.Conv1d]
    assert len(convs) > 10
    for name in convs:
        weight = vocoder.get_parameter(f"{name}.weight")
        assert weight.unsqueeze(2).is_contiguous(memory_format=torch.channels_last), name
        assert torch.equal(weight, state[f"{name}.weight"]), name


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """[B, C, N] -> the activations' layout, [B, C, 1, N] in channels-last memory."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def _textbook_activation(act: AliasFreeSnakeBeta, x: torch.Tensor) -> torch.Tensor:
    """BigVGAN's ``Activation1d`` as its code reads, on [B, C, N]: replicate-pad by 5, stride-2 transposed
    depthwise convolution (gain 2), crop 15 each side; SnakeBeta; replicate-pad (5, 6), stride-2 low-pass."""
    c = x.shape[1]
    up = F.conv_transpose1d(
        F.pad(x, (5, 5), mode="replicate"), 2 * act.upsample_filter.expand(c, -1, -1), stride=2, groups=c
    )[..., 15:-15]
    alpha, beta = act.alpha.exp()[None, :, None], act.beta.exp()[None, :, None]
    up = up + torch.sin(alpha * up).pow(2) / (beta + 1e-9)
    return F.conv1d(F.pad(up, (5, 6), mode="replicate"), act.downsample_filter.expand(c, -1, -1), stride=2, groups=c)


@pytest.mark.parametrize("length", [1, 2, 3, 5, 8, 40])
def test_alias_free_activation_matches_the_textbook_form(vocoder: BigVGAN, length: int) -> None:
    """The polyphase form with zero padding and edge corrections computes the reference's replicate-padded
    resampling: every output, the edges (and signals shorter than the filters) included, and a batch of two."""
    act = vocoder.activation_post
    x = 2 * torch.randn(2, act.alpha.shape[0], length, generator=torch.Generator().manual_seed(length))
    with torch.no_grad():
        got = act(_channels_last(x))
        expected = _textbook_activation(act, x)
    assert got.shape == (2, act.alpha.shape[0], 1, length)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got.squeeze(2), expected, rtol=0, atol=1e-5)


def test_alias_free_activation_keeps_constants(vocoder: BigVGAN) -> None:
    """Replicate padding and unit-sum filters pass a constant signal unchanged through the x2 resampling, so
    the anti-aliased activation of a constant is SnakeBeta of that constant."""
    act = vocoder.activation_post
    c = act.alpha.shape[0]
    x = torch.full((1, c, 40), 0.3)
    alpha, beta = act.alpha.exp()[None, :, None], act.beta.exp()[None, :, None]
    expected = x + torch.sin(alpha * x).pow(2) / (beta + 1e-9)
    with torch.no_grad():
        assert torch.allclose(act(_channels_last(x)).squeeze(2), expected, atol=1e-5)


def test_output_length_and_range(vocoder: BigVGAN) -> None:
    mel = torch.randn(1, 80, 7) * 3
    with torch.no_grad():
        wav = vocoder(mel)
    assert wav.shape == (1, 1, 7 * vocoder.args.hop_size)
    assert wav.abs().max() <= 1.0


@pytest.mark.parametrize("case_id", ["vocoder_00_ref_en", "vocoder_01_ref_zh", "vocoder_02_random"])
def test_bundle_cases(bundle: Bundle, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = run_case(bundle, case, discover_adapters())
    assert result.passed, result.detail


def test_bfloat16_convolutions_keep_float32_activations(model_config: ModelConfig) -> None:
    fast = load_bigvgan(model_config).cast_convolutions(torch.bfloat16)
    exact = load_bigvgan(model_config)
    assert fast.conv_pre.weight.dtype == torch.bfloat16 and fast.ups[0].weight.dtype == torch.bfloat16
    assert fast.activation_post.alpha.dtype == torch.float32
    assert fast.activation_post.upsample_filter.dtype == torch.float32
    mel = torch.randn(1, 80, 9)
    with torch.no_grad():
        out, ref = fast(mel), exact(mel)
    assert out.dtype == torch.float32
    assert 0 < (out - ref).norm() / ref.norm() < 0.05
