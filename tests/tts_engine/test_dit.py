"""The s2mel DiT: sizes from config, rotary embeddings, U-ViT skips, bidirectional attention, batching."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tts_engine.config import ModelConfig, official_config
from tts_engine.errors import ModelFolderError
from tts_engine.networks.dit import DiT, DiTArgs, apply_rotary, bidirectional_attention, rotary_table


@pytest.fixture(scope="module")
def dit(model_config: ModelConfig) -> DiT:
    torch.manual_seed(0)
    return DiT(DiTArgs.from_model_config(model_config)).eval()


def _inputs(dit: DiT, batch: int, frames: int, seed: int = 1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    a = dit.args
    return (
        torch.randn(batch, a.n_mels, frames, generator=g),
        torch.randn(batch, a.n_mels, frames, generator=g),
        torch.rand(batch, generator=g),
        torch.randn(batch, a.style_dim, generator=g),
        torch.randn(batch, frames, a.content_dim, generator=g),
    )


def test_sizes_from_config(model_config: ModelConfig) -> None:
    tiny = DiTArgs.from_model_config(model_config)
    assert (tiny.hidden_dim, tiny.num_heads, tiny.depth, tiny.n_mels, tiny.style_dim) == (64, 4, 5, 80, 192)
    assert tiny.intermediate_size == 256  # the checkpoint's feed_forward.w1 is [256, 64]
    full = DiTArgs.from_model_config(official_config())
    assert (full.hidden_dim, full.depth, full.intermediate_size) == (512, 13, 1536)


def test_unsupported_variant_is_refused(model_config: ModelConfig) -> None:
    raw = {**model_config.raw, "s2mel": {**model_config.raw["s2mel"]}}
    raw["s2mel"]["DiT"] = {**raw["s2mel"]["DiT"], "time_as_token": True}
    with pytest.raises(ModelFolderError, match="time_as_token"):
        DiTArgs.from_model_config(dataclasses.replace(model_config, raw=raw))


def test_rotary_rotates_interleaved_pairs() -> None:
    """Pair (x[2i], x[2i+1]) at position p turns by p * 10000^(-2i/K): (a cos - b sin, b cos + a sin)."""
    table = rotary_table(torch.arange(7), head_dim=8, base=10000.0)
    x = torch.randn(2, 7, 3, 8)
    out = apply_rotary(x, table)
    p, i = 5, 2
    angle = p * 10000.0 ** (-2 * i / 8)
    a, b = x[1, p, 2, 2 * i], x[1, p, 2, 2 * i + 1]
    expected = (a * math.cos(angle) - b * math.sin(angle), b * math.cos(angle) + a * math.sin(angle))
    assert torch.allclose(out[1, p, 2, 2 * i : 2 * i + 2], torch.stack(expected), atol=1e-5)
    assert torch.allclose(out.norm(dim=-1), x.norm(dim=-1), atol=1e-5)  # a rotation keeps lengths


def test_uvit_skips_reach_the_second_half_only(dit: DiT) -> None:
    """depth 5: blocks 0, 1 push, block 2 neither, blocks 3, 4 pop; only 3 and 4 use skip_in_linear."""
    inputs = _inputs(dit, 1, 12)
    with torch.no_grad():
        base = dit(*inputs)
        for i, block in enumerate(dit.transformer.layers):
            saved = block.skip_in_linear.bias.clone()
            block.skip_in_linear.bias.add_(1.0)
            changed = not torch.allclose(dit(*inputs), base)
            block.skip_in_linear.bias.copy_(saved)
            assert changed == (i > dit.args.depth // 2), f"block {i}"


def test_attention_is_bidirectional(dit: DiT) -> None:
    x, prompt_x, t, style, mu = _inputs(dit, 1, 10)
    with torch.no_grad():
        base = dit(x, prompt_x, t, style, mu)
        mu2 = mu.clone()
        mu2[:, -1] += 1.0
        moved = dit(x, prompt_x, t, style, mu2)
    assert not torch.allclose(moved[..., 0], base[..., 0])


def test_velocity_from_a_start_frame_equals_the_tail_of_the_full_output(dit: DiT) -> None:
    """The last transformer block and the head after it run on [start - halo, T) only; the values must not change."""
    assert dit.wavenet.halo == 2 * dit.args.wavenet.num_layers  # kernel 5, dilation 1: 2 frames per layer
    inputs = _inputs(dit, 2, 30)
    with torch.no_grad():
        full = dit(*inputs)
        for start in (1, 4, 13, 29):
            assert torch.allclose(dit(*inputs, start=start), full[..., start:], atol=1e-6), start


def test_batch_rows_are_independent(dit: DiT) -> None:
    """The flow evaluates conditional and unconditional inputs as one batch of two."""
    both = _inputs(dit, 2, 9)
    with torch.no_grad():
        batched = dit(*both)
        alone = dit(*(x[1:] for x in both))
    assert batched.shape == (2, dit.args.n_mels, 9)
    assert torch.allclose(batched[1:], alone, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attention_matches_the_softmax_formula(dtype: torch.dtype) -> None:
    """Float32 runs the fused kernel, bfloat16 on a CPU the explicit products: both are softmax(q k^T / sqrt(K)) v."""
    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 37, 16, generator=generator) for _ in range(3))
    expected = torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1) @ v
    got = bidirectional_attention(q.to(dtype), k.to(dtype), v.to(dtype)).float()
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    assert torch.allclose(got, expected, atol=tolerance, rtol=0)
