"""The perceiver resamplers: sizes from the config, masking, and the output norm."""

from __future__ import annotations

import pytest
import torch

from tts_engine.config import ModelConfig, official_config
from tts_engine.networks.gpt import UnifiedVoice
from tts_engine.networks.perceiver import PerceiverConfig, PerceiverResampler


@pytest.fixture(scope="module")
def gpt(model_config: ModelConfig) -> UnifiedVoice:
    return UnifiedVoice.load(model_config)


def test_official_sizes_follow_the_reference_rules() -> None:
    speaker = PerceiverConfig.from_model_config(official_config())
    emotion = PerceiverConfig.from_model_config(official_config(), emotion=True)
    assert (speaker.dim, speaker.context_dim, speaker.num_latents, speaker.heads) == (1280, 512, 32, 8)
    assert speaker.ff_dim == 1706  # int(1280 · 2 · 2/3); the first linear is twice that (GEGLU)
    assert (emotion.dim, emotion.num_latents, emotion.heads, emotion.inner_dim, emotion.ff_dim) == (
        1024,
        1,
        4,
        256,
        1365,
    )


def test_context_projection_is_identity_only_at_equal_width() -> None:
    same = PerceiverResampler(PerceiverConfig(dim=16, context_dim=16, num_latents=2, heads=2, ff_mult=2))
    other = PerceiverResampler(PerceiverConfig(dim=16, context_dim=8, num_latents=2, heads=2, ff_mult=2))
    assert isinstance(same.proj_context, torch.nn.Identity)
    assert isinstance(other.proj_context, torch.nn.Linear)
    assert "proj_context.weight" not in same.state_dict()


@torch.inference_mode()
def test_output_shape_and_norm(gpt: UnifiedVoice) -> None:
    perceiver = gpt.perceiver_encoder
    config = perceiver.config
    context = torch.randn(2, 13, config.context_dim, generator=torch.Generator().manual_seed(0))
    out = perceiver(context)
    assert out.shape == (2, config.num_latents, config.dim)
    # Each latent is L2-normalised, then scaled by √D and the learned gain.
    unit = out / (perceiver.norm.gamma * config.dim**0.5)
    assert torch.allclose(unit.norm(dim=-1), torch.ones(2, config.num_latents), atol=1e-5)


@torch.inference_mode()
def test_masked_frames_are_ignored(gpt: UnifiedVoice) -> None:
    perceiver = gpt.emo_perceiver_encoder
    generator = torch.Generator().manual_seed(1)
    context = torch.randn(1, 10, perceiver.config.context_dim, generator=generator)
    mask = torch.tensor([[True] * 6 + [False] * 4])
    changed = context.clone()
    changed[:, 6:] = torch.randn(1, 4, perceiver.config.context_dim, generator=generator)
    assert torch.allclose(perceiver(context, mask), perceiver(changed, mask), atol=1e-6)
    assert torch.allclose(perceiver(context, mask), perceiver(context[:, :6]), atol=1e-6)
    assert not torch.allclose(perceiver(context), perceiver(changed), atol=1e-4)
