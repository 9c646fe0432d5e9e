"""The GPT's conformer conditioning encoders: sizes, subsampling, padding, and the checkpoint's encoders."""

from __future__ import annotations

import pytest
import torch

from tts_engine.config import ModelConfig, official_config
from tts_engine.errors import ModelFolderError
from tts_engine.networks.conformer import ConformerConfig, ConformerEncoder
from tts_engine.networks.gpt import UnifiedVoice


@pytest.fixture(scope="module")
def encoder(model_config: ModelConfig) -> ConformerEncoder:
    return UnifiedVoice.load(model_config).conditioning_encoder


def test_config_reads_both_sections_of_the_official_config() -> None:
    cfg = official_config()
    speaker = ConformerConfig.from_model_config(cfg)
    emotion = ConformerConfig.from_model_config(cfg, emotion=True)
    assert (speaker.input_dim, speaker.dim, speaker.heads, speaker.ffn_dim, speaker.num_blocks) == (
        1024,
        512,
        8,
        2048,
        6,
    )
    assert (emotion.heads, emotion.ffn_dim, emotion.num_blocks) == (4, 1024, 4)
    assert speaker.subsampled_features == 511  # the front-end linear takes 512 · 511 inputs


def test_tiny_config_takes_the_semantic_width_from_the_overrides(model_config: ModelConfig) -> None:
    config = ConformerConfig.from_model_config(model_config)
    assert config.input_dim == model_config.constants.semantic_dim == 64


def test_other_subsampling_is_refused(model_config: ModelConfig) -> None:
    gpt = dict(model_config.raw["gpt"])
    gpt["condition_module"] = dict(gpt["condition_module"]) | {"input_layer": "conv2d"}
    raw = dict(model_config.raw) | {"gpt": gpt}
    broken = ModelConfig(model_dir=model_config.model_dir, raw=raw, constants=model_config.constants)
    with pytest.raises(ModelFolderError, match=r"gpt\.condition_module\.input_layer"):
        ConformerConfig.from_model_config(broken)


@torch.inference_mode()
def test_subsampling_halves_time_and_masks_from_the_length(encoder: ConformerEncoder) -> None:
    x = torch.randn(2, 21, encoder.config.input_dim, generator=torch.Generator().manual_seed(0))
    out, mask = encoder(x, torch.tensor([21, 9]))
    assert out.shape == (2, 10, encoder.config.dim)
    # Subsampled frame i covers input frames 2i..2i+2 and is real when frame 2i+2 is.
    assert mask.tolist() == [[True] * 10, [True] * 4 + [False] * 6]


@torch.inference_mode()
def test_padded_frames_do_not_change_real_outputs(encoder: ConformerEncoder) -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 31, encoder.config.input_dim, generator=generator)
    noisy = x.clone()
    noisy[:, 17:] = torch.randn(1, 14, encoder.config.input_dim, generator=generator)
    lengths = torch.tensor([17])
    out, mask = encoder(x, lengths)
    out_noisy, _ = encoder(noisy, lengths)
    real = mask[0]
    assert real.sum() == 8
    assert torch.allclose(out[:, real], out_noisy[:, real], atol=1e-6)
    assert not torch.allclose(out[:, ~real], out_noisy[:, ~real], atol=1e-3)


@torch.inference_mode()
def test_lengths_beyond_the_frames_mask_nothing(encoder: ConformerEncoder) -> None:
    x = torch.randn(1, 25, encoder.config.input_dim, generator=torch.Generator().manual_seed(2))
    exact, mask = encoder(x, torch.tensor([25]))
    beyond, mask_beyond = encoder(x, torch.tensor([1024]))
    assert mask.all() and mask_beyond.all()
    assert torch.equal(exact, beyond)


@torch.inference_mode()
def test_subsampling_equals_the_convolution_it_computes(encoder: ConformerEncoder) -> None:
    # The front end's batched product of kernel and patches against the checkpoint's Conv2d, run as a Conv2d.
    embed = encoder.embed
    x = torch.randn(2, 23, encoder.config.input_dim, generator=torch.Generator().manual_seed(3))
    planes = embed.conv(x[:, None])  # [B, D, T', F'] through nn.Conv2d and ReLU
    b, d, t, f = planes.shape
    expected = embed.out(planes.transpose(1, 2).reshape(b, t, d * f)) * embed.scale
    torch.testing.assert_close(embed(x), expected, rtol=1e-5, atol=1e-6)
