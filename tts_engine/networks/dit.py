"""The s2mel diffusion transformer (DiT): the velocity field of IndexTTS-2's flow-matching mel decoder.

Shape letters: B batch, T mel frames (prompt + target), M mel bins, C content (length-regulator)
channels, S style width, D hidden width, H heads, K head width (D / H), W WaveNet width.

Structure (checked numerically against the reference implementation by the conformance bundle):

* input: ``cat(x, prompt_x, cond_projection(mu), style repeated over T)`` -> ``cond_x_merge_linear``;
* a gpt-fast style transformer whose RMSNorms are adaptive (AdaLN, conditioned on the timestep embedding
  ``t_embedder(t)``), rotary embeddings on interleaved pairs, bidirectional attention over all frames, and
  U-ViT skips: block ``i < depth // 2`` pushes its output, block ``i > depth // 2`` pops the most recent one
  and merges it with ``skip_in_linear(cat(x, skip))``;
* a long skip ``skip_linear(cat(h, x))``, then the WaveNet head conditioned on a second timestep embedding,
  plus a residual projection, the AdaLN final layer (LayerNorm, ``x * (1 + scale) + shift``) and a 1x1
  convolution back to M channels.

Only the variant the released model uses is built (style concatenated to the input, wavenet final layer,
both skip kinds, time and style not as tokens); other config values are refused when the config is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_engine.config import ModelConfig
from tts_engine.errors import ModelFolderError
from tts_engine.networks.layers import AdaptiveRMSNorm, TimestepEmbedding, project
from tts_engine.networks.wavenet import WaveNet, WaveNetArgs

# config.yaml `s2mel.DiT` switches and the only value this engine implements (the released model's).
_SUPPORTED_VARIANT = {
    "style_condition": True,
    "final_layer_type": "wavenet",
    "uvit_skip_connection": True,
    "long_skip_connection": True,
    "time_as_token": False,
    "style_as_token": False,
    "is_causal": False,
}


@dataclass(frozen=True)
class DiTArgs:
    """DiT sizes from config.yaml plus the constants the reference hard-codes."""

    hidden_dim: int
    num_heads: int
    depth: int
    n_mels: int
    content_dim: int
    content_codebook_size: int
    style_dim: int
    wavenet: WaveNetArgs
    # Hard-coded by the reference: rotary table / position buffer length, rotary base, norm epsilons,
    # timestep embedding (frequency count, time scale, max period), FFN width rounding.
    max_positions: int = 16384
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    final_norm_eps: float = 1e-6
    frequency_dim: int = 256
    time_scale: float = 1000.0
    max_period: float = 10000.0
    ffn_multiple: int = 256

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    @property
    def intermediate_size(self) -> int:
        """SwiGLU width: 2/3 of 4·D rounded up to a multiple of ``ffn_multiple`` (the gpt-fast rule)."""
        n = int(2 * 4 * self.hidden_dim / 3)
        return -(-n // self.ffn_multiple) * self.ffn_multiple

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> DiTArgs:
        """Read ``s2mel.DiT``, ``s2mel.style_encoder`` and ``s2mel.wavenet``; refuse unsupported variants."""
        s2mel = cfg.get("s2mel")
        dit = cfg.get("s2mel.DiT")
        for key, wanted in _SUPPORTED_VARIANT.items():
            if dit.get(key, wanted) != wanted:
                raise ModelFolderError(
                    f"{dit[key]!r} is not supported (only {wanted!r})",
                    file=cfg.file("config.yaml"),
                    key=f"s2mel.DiT.{key}",
                )
        if s2mel.get("dit_type", "DiT") != "DiT":
            raise ModelFolderError(
                f"{s2mel['dit_type']!r} is not supported", file=cfg.file("config.yaml"), key="s2mel.dit_type"
            )
        args = cls(
            hidden_dim=int(dit["hidden_dim"]),
            num_heads=int(dit["num_heads"]),
            depth=int(dit["depth"]),
            n_mels=int(dit["in_channels"]),
            content_dim=int(dit["content_dim"]),
            content_codebook_size=int(dit["content_codebook_size"]),
            style_dim=cfg.get("s2mel.style_encoder.dim", int),
            wavenet=WaveNetArgs.from_model_config(cfg),
        )
        if args.wavenet.hidden_dim != args.hidden_dim:
            raise ModelFolderError(
                "must equal s2mel.DiT.hidden_dim", file=cfg.file("config.yaml"), key="s2mel.wavenet.hidden_dim"
            )
        return args


def rotary_table(positions: Tensor, head_dim: int, base: float) -> Tensor:
    """Rotary rotations as unit complex numbers: positions [T] -> [T, K/2] (complex64).

    Angle of pair i at position p: ``p * base ** (-2i / K)``, computed in float32 as the reference does.
    """
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim))
    angles = torch.outer(positions.float(), inv_freq)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rotary(x: Tensor, table: Tensor) -> Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of every head, in float32: x [B, T, H, K], table [T, K/2].

    One complex multiplication per pair, ``(a + ib)(cos + i sin)``, which is the reference's real formula.
    """
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * table[None, :, None, :]).flatten(3).type_as(x)


def bidirectional_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Softmax attention over every frame: q, k, v [B, H, T, K] -> [B, H, T, K].

    PyTorch's fused kernel everywhere except for half precision on a CPU, where its flash kernel works in
    small float32 tiles and takes ~1.4x the time of two plain batched products and a softmax (711 frames, 8 heads,
    bfloat16: 16 ms against 11 ms per layer, one thread), 30 % of a fast-mode DiT evaluation. Float32 keeps the
    fused kernel, which is both faster there (15 ms against 17 ms) and what the conformance tolerances were met with.
    """
    if q.is_cpu and q.dtype in (torch.bfloat16, torch.float16):
        scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))
        return torch.matmul(scores.softmax(dim=-1), v)
    return F.scaled_dot_product_attention(q, k, v)


class Attention(nn.Module):
    """Bidirectional multi-head self-attention with a fused q/k/v projection and no biases."""

    def __init__(self, args: DiTArgs) -> None:
        super().__init__()
        self.num_heads = args.num_heads
        self.wqkv = nn.Linear(args.hidden_dim, 3 * args.hidden_dim, bias=False)
        self.wo = nn.Linear(args.hidden_dim, args.hidden_dim, bias=False)

    def forward(self, x: Tensor, rope: Tensor, queries_from: int = 0) -> Tensor:
        """x: [B, T, D], rope: [T, K/2] -> [B, T - queries_from, D]: frames [queries_from, T) attending to all."""
        b, t, d = x.shape
        q, k, v = project(self.wqkv, x).view(b, t, 3, self.num_heads, d // self.num_heads).unbind(dim=2)
        q, k = apply_rotary(q[:, queries_from:], rope[queries_from:]), apply_rotary(k, rope)
        y = bidirectional_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return project(self.wo, y.transpose(1, 2).reshape(b, t - queries_from, d))


class FeedForward(nn.Module):
    """SwiGLU MLP: ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, args: DiTArgs) -> None:
        super().__init__()
        self.w1 = nn.Linear(args.hidden_dim, args.intermediate_size, bias=False)
        self.w3 = nn.Linear(args.hidden_dim, args.intermediate_size, bias=False)
        self.w2 = nn.Linear(args.intermediate_size, args.hidden_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, T, D] -> [B, T, D]. The gate is applied in place: two fewer [B, T, 4D·2/3] buffers to allocate and
        fault in per block."""
        gated = F.silu(project(self.w1, x), inplace=True).mul_(project(self.w3, x))
        return project(self.w2, gated)


class TransformerBlock(nn.Module):
    """Pre-norm block with AdaLN-RMSNorm; ``skip_in_linear`` merges a U-ViT skip when one is given
    (every block of the checkpoint has the layer, only the second half uses it)."""

    def __init__(self, args: DiTArgs) -> None:
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = AdaptiveRMSNorm(args.hidden_dim, args.norm_eps)
        self.ffn_norm = AdaptiveRMSNorm(args.hidden_dim, args.norm_eps)
        self.skip_in_linear = nn.Linear(2 * args.hidden_dim, args.hidden_dim)

    def forward(self, x: Tensor, c: Tensor, rope: Tensor, skip: Tensor | None, queries_from: int = 0) -> Tensor:
        """x: [B, T, D], c: [B, 1, D] (time embedding), rope: [T, K/2], skip: [B, T, D] | None
        -> [B, T - queries_from, D]: only frames from `queries_from` on come out (every frame is attended to)."""
        if skip is not None:
            x = project(self.skip_in_linear, torch.cat([x, skip], dim=-1))
        attended = self.attention(self.attention_norm(x, self.attention_norm.modulation(c)), rope, queries_from)
        h = attended.add_(x[:, queries_from:])  # residuals summed into the fresh outputs: no new buffers
        return self.feed_forward(self.ffn_norm(h, self.ffn_norm.modulation(c))).add_(h)


class Transformer(nn.Module):
    """Stack of blocks with U-ViT skips and a final AdaLN-RMSNorm."""

    def __init__(self, args: DiTArgs) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerBlock(args) for _ in range(args.depth))
        self.norm = AdaptiveRMSNorm(args.hidden_dim, args.norm_eps)

    def forward(self, x: Tensor, c: Tensor, rope: Tensor, keep_from: int = 0) -> Tensor:
        """x: [B, T, D], c: [B, 1, D], rope: [T, K/2] -> [B, T - keep_from, D]. Frames before `keep_from` are still
        attended to in every block; only the last block leaves their own outputs out, as nothing reads them."""
        middle, last = len(self.layers) // 2, len(self.layers) - 1
        skips: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            x = layer(x, c, rope, skips.pop() if i > middle else None, keep_from if i == last else 0)
            if i < middle:
                skips.append(x)
        return self.norm(x, self.norm.modulation(c))


class FinalLayer(nn.Module):
    """AdaLN (affine-free LayerNorm, ``x * (1 + scale) + shift``) followed by a linear layer."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.linear = nn.Linear(dim, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x: [B, T, W], c: [B, W] -> [B, T, W]."""
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return project(self.linear, self.norm_final(x) * (1 + scale[:, None]) + shift[:, None])


class DiT(nn.Module):
    """Velocity estimator v(x, t | prompt mel, style, content) of the conditional flow matching."""

    def __init__(self, args: DiTArgs) -> None:
        super().__init__()
        d, m, w = args.hidden_dim, args.n_mels, args.wavenet.hidden_dim
        self.args = args
        self.transformer = Transformer(args)
        self.t_embedder = TimestepEmbedding(args.frequency_dim, d, args.time_scale, args.max_period)
        self.t_embedder2 = TimestepEmbedding(args.frequency_dim, w, args.time_scale, args.max_period)
        self.cond_projection = nn.Linear(args.content_dim, d)
        self.cond_x_merge_linear = nn.Linear(d + 2 * m + args.style_dim, d)
        self.skip_linear = nn.Linear(d + m, d)
        self.conv1 = nn.Linear(d, w)
        self.wavenet = WaveNet(args.wavenet)
        self.res_projection = nn.Linear(d, w)
        self.final_layer = FinalLayer(w, args.final_norm_eps)
        self.conv2 = nn.Conv1d(w, m, 1)  # applied as the matrix product it is
        # Positions 0..max_positions-1 as the checkpoint stores them; the rotary angles are taken from it.
        self.register_buffer("input_pos", torch.arange(args.max_positions))
        # Trained tensors the inference graph never reads (an unused input embedder, a discrete-content
        # table and a content mask token). They are kept so that loading stays strict: every tensor of
        # the file has a place and a changed shape is still reported.
        self.x_embedder = nn.Linear(m, d)
        self.cond_embedder = nn.Embedding(args.content_codebook_size, d)
        self.content_mask_embedder = nn.Embedding(1, d)

    def forward(self, x: Tensor, prompt_x: Tensor, t: Tensor, style: Tensor, mu: Tensor, start: int = 0) -> Tensor:
        """Velocity at time t for frames [start, T): ``velocity(x, t, condition(prompt_x, style, mu), start)``.

        x: [B, M, T] current sample, prompt_x: [B, M, T] reference mel (zeros after the prompt),
        t: [B] flow time in [0, 1], style: [B, S], mu: [B, T, C] content condition -> [B, M, T - start].
        """
        return self.velocity(x, t, self.condition(prompt_x, style, mu), start)

    def condition(self, prompt_x: Tensor, style: Tensor, mu: Tensor) -> Tensor:
        """The input projection's share of everything but the sample: [B, T, D], the same at every step of the flow.

        ``cond_x_merge_linear`` reads ``cat(x, prompt_x, cond_projection(mu), style)``; it is applied as two
        products, this one over the inputs that stay put, once per sampling, and one over the sample's M channels
        at each step (``velocity``).
        """
        frames = mu.shape[1]
        rest = torch.cat(
            [prompt_x.transpose(1, 2), project(self.cond_projection, mu), style[:, None, :].expand(-1, frames, -1)],
            dim=-1,
        )
        merge = self.cond_x_merge_linear
        return F.linear(rest, merge.weight[:, self.args.n_mels :], merge.bias)

    def velocity(self, x: Tensor, t: Tensor, condition: Tensor, start: int = 0) -> Tensor:
        """Velocity at time t for frames [start, T), given ``condition(prompt_x, style, mu)``: x [B, M, T], t [B],
        condition [B, T, D] -> [B, M, T - start].

        The transformer attends to every frame; its last block and the per-frame head after it (long skip,
        WaveNet, final layer) run only on the frames asked for plus the WaveNet's left halo, so asking for the
        frames after the prompt (the only ones the sampler keeps) saves that share of them and changes no value.
        """
        frames = x.shape[-1]
        t1 = self.t_embedder(t)
        x_t = x.transpose(1, 2)
        x_in = F.linear(x_t, self.cond_x_merge_linear.weight[:, : self.args.n_mels]).add_(condition)
        rope = rotary_table(self.input_pos[:frames], self.args.head_dim, self.args.rope_base)
        crop = max(0, start - self.wavenet.halo)
        h = self.transformer(x_in, t1[:, None, :], rope, keep_from=crop)
        h = project(self.skip_linear, torch.cat([h, x_t[:, crop:]], dim=-1))
        out = self.wavenet(project(self.conv1, h).transpose(1, 2), self.t_embedder2(t)[:, :, None])
        keep = start - crop
        out = self.final_layer(out.transpose(1, 2)[:, keep:] + project(self.res_projection, h[:, keep:]), t1)
        return F.linear(out, self.conv2.weight[:, :, 0], self.conv2.bias).transpose(1, 2)
