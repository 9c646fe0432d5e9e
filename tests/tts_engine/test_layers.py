"""Shared blocks: RMSNorm, AdaLN-RMSNorm, the timestep embedding and reflection padding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tts_engine.networks.layers import AdaptiveRMSNorm, RMSNorm, TimestepEmbedding, project, reflect_pad1d


def test_rms_norm_unit_rms_then_gain() -> None:
    norm = RMSNorm(6, eps=0.0)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
    x = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(0)) * 5
    y = norm(x) / norm.weight
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(3, 4), atol=1e-5)


def test_adaptive_rms_norm_uses_gain_as_is() -> None:
    """gain * norm(x) + bias, not (1 + gain): a zero projection gives zero output."""
    norm = AdaptiveRMSNorm(4, eps=1e-5)
    with torch.no_grad():
        norm.project_layer.weight.zero_()
        norm.project_layer.bias.copy_(torch.tensor([0.0] * 4 + [3.0] * 4))
    x = torch.randn(1, 5, 4)
    out = norm(x, norm.modulation(torch.randn(1, 1, 4)))
    assert torch.equal(out, torch.full((1, 5, 4), 3.0))


def test_timestep_embedding_cos_then_sin() -> None:
    """Features are [cos(1000 t f), sin(1000 t f)] with f = exp(-ln(10000) k / (F/2)), then Linear-SiLU-Linear."""
    emb = TimestepEmbedding(8, 3, scale=1000.0, max_period=10000.0)
    freqs = torch.exp(-math.log(10000.0) * torch.arange(4) / 4)
    assert torch.allclose(emb.freqs, freqs)
    t = torch.tensor([0.25, 0.5])
    args = 1000.0 * t[:, None] * freqs
    features = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    expected = emb.mlp[2](F.silu(emb.mlp[0](features)))
    assert torch.allclose(emb(t), expected)
    swapped = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    assert not torch.allclose(emb(t), emb.mlp[2](F.silu(emb.mlp[0](swapped))))


@pytest.mark.parametrize(("length", "left", "right"), [(10, 2, 2), (10, 3, 1), (3, 2, 2), (1, 0, 0)])
def test_reflect_pad1d_matches_torch_reflect(length: int, left: int, right: int) -> None:
    x = torch.randn(2, 3, length)
    assert torch.equal(reflect_pad1d(x, left, right), F.pad(x, (left, right), mode="reflect"))


def test_reflect_pad1d_short_input_reflects_appended_zeros() -> None:
    """Input [a, b] with 2 + 2 padding: [a, b, 0] is reflected, then the appended zero is cut again."""
    x = torch.tensor([[[5.0, 7.0]]])
    assert reflect_pad1d(x, 2, 2).tolist() == [[[0.0, 7.0, 5.0, 7.0, 0.0, 7.0]]]


@torch.inference_mode()
def test_projections_through_onednn_equal_nn_linear() -> None:
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(64, 96)
    for rows in (1, 3, 17):  # greedy, beam search, a prefill
        x = torch.randn(1, rows, 64, generator=generator)
        assert torch.allclose(project(layer, x), layer(x), rtol=0, atol=1e-5)
    half = torch.nn.Linear(64, 96).bfloat16()  # other dtypes run as the layer runs them
    x = torch.randn(2, 64, generator=generator).bfloat16()
    assert torch.equal(project(half, x), half(x))
