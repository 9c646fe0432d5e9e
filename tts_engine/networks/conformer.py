"""The conformer encoders of the GPT's speaker and emotion conditioning.

IndexTTS-2 turns the w2v-BERT semantic features of a reference clip into GPT conditioning with two of these
encoders (``conditioning_encoder`` and ``emo_conditioning_encoder`` in ``gpt.pth``), each followed by a perceiver
resampler (``networks/perceiver.py``). They are WeNet's conformer as IndexTTS ships it, which differs from the
textbook conformer (and from transformers' Wav2Vec2-BERT conformer, the only one at hand) in three ways that
change the numbers, so it is written out here:

* the front end is a single 3×3 stride-2 ``Conv2d`` over (time, feature) — "conv2d2" subsampling, T → (T−1)//2;
* the relative-position attention has *no* rel-shift: its position term is ``(q + v_bias) · W_pos pe[j]`` for
  the absolute sinusoid of key frame ``j``, and the sinusoid table is the checkpoint's ``pe`` buffer;
* no macaron feed-forward: each block is attention → convolution → one feed-forward (scale 1) → final norm.

Padding: frames at or beyond ``lengths`` are masked as keys in attention and zeroed around the convolution
module (not before the front end). The mask after subsampling is the input mask at frames 2, 4, 6, ...

Shape letters: B batch, T input frames, T' = (T − 1) // 2 frames after subsampling, F input feature width
(the semantic dimension), D model width, H heads, K = D / H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tts_engine.errors import ModelFolderError

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig


@dataclass(frozen=True)
class ConformerConfig:
    """Sizes of one conformer encoder.

    ``input_dim`` is the semantic dimension, a constant the reference hard-codes (``ConformerEncoder(
    input_size=1024)``) and that this engine reads from ``cfg.constants``; the rest comes from
    ``config.yaml`` → ``gpt.condition_module`` (speaker) or ``gpt.emo_condition_module`` (emotion).
    ``kernel_size`` (depthwise convolution) and ``max_positions`` (rows of the sinusoid table) are the
    reference's constructor defaults.
    """

    input_dim: int
    dim: int
    heads: int
    ffn_dim: int
    num_blocks: int
    kernel_size: int = 15
    max_positions: int = 5000
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def subsampled_features(self) -> int:
        """Feature rows left by the 3×3 stride-2 convolution, which the front-end linear flattens."""
        return (self.input_dim - 1) // 2

    @classmethod
    def from_model_config(cls, cfg: ModelConfig, *, emotion: bool = False) -> ConformerConfig:
        """The speaker encoder's sizes, or with ``emotion=True`` the emotion encoder's."""
        name = "emo_condition_module" if emotion else "condition_module"
        section = cfg.raw["gpt"][name]
        if section["input_layer"] != "conv2d2":
            raise ModelFolderError(
                f"{section['input_layer']!r} subsampling is not supported (IndexTTS-2 ships 'conv2d2')",
                file=cfg.file("config.yaml"),
                key=f"gpt.{name}.input_layer",
            )
        return cls(
            input_dim=int(cfg.constants.semantic_dim),
            dim=int(section["output_size"]),
            heads=int(section["attention_heads"]),
            ffn_dim=int(section["linear_units"]),
            num_blocks=int(section["num_blocks"]),
        )


class SinusoidTable(nn.Module):
    """The ``pe`` buffer [1, max_positions, D]: sin on even, cos on odd features (base 10000).

    It is persistent in the checkpoint, so the loaded values are what is used; the table computed here only
    serves modules that are built without one.
    """

    def __init__(self, max_positions: int, dim: int) -> None:
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
        table = torch.zeros(max_positions, dim)
        table[:, 0::2] = torch.sin(position * inv_freq)
        table[:, 1::2] = torch.cos(position * inv_freq)
        self.register_buffer("pe", table[None])

    def forward(self, length: int) -> Tensor:
        """The first ``length`` rows: [1, length, D]."""
        return self.pe[:, :length]


class Conv2dSubsampling2(nn.Module):
    """[B, T, F] → [B, T', D]: 3×3 stride-2 conv (one input plane, D output planes), ReLU, flatten, linear, ×√D.

    ``conv`` and ``out`` are sequentials only to keep the checkpoint's ``conv.0`` / ``out.0`` key names.

    The convolution is computed as one batched matrix product of the kernel [D, 9] with the 3×3 patches of each
    output frame [9, F'], which lays the result out as [B, T', D, F'], the order the linear layer flattens, and
    gives the same values as ``Conv2d``. At full size (F = 1024, D = 512) the convolution writes
    D·T'·F' ≈ 28 M values for a 4 s clip; oneDNN's convolution of a single input plane, plus the copy of its
    [B, D, T', F'] output into the linear's order, took 2.6× as long (0.26 s against 0.10 s of one core).
    """

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, config.dim, 3, 2), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(config.dim * config.subsampled_features, config.dim))
        self.pos_enc = SinusoidTable(config.max_positions, config.dim)
        self.scale = math.sqrt(config.dim)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, T, F] -> [B, T', D] (scaled by √D, ready for the blocks)."""
        conv = self.conv[0]
        d, _, kt, kf = conv.weight.shape
        b = x.shape[0]
        patches = x.unfold(1, kt, conv.stride[0]).unfold(2, kf, conv.stride[1])  # [B, T', F', 3, 3]
        t, f = patches.shape[1:3]
        patches = patches.permute(0, 1, 3, 4, 2).reshape(b * t, kt * kf, f)
        kernel = conv.weight.view(1, d, kt * kf).expand(b * t, -1, -1)
        h = torch.baddbmm(conv.bias.view(1, d, 1), kernel, patches).relu_()  # [B·T', D, F']
        return self.out(h.view(b, t, d * f)) * self.scale


class RelPositionAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL biases and absolute sinusoid keys (no rel-shift).

    ``score[i, j] = ((q_i + u) · k_j + (q_i + v) · W_pos pe_j) / √K``; padded keys get probability 0.
    """

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        d, h = config.dim, config.heads
        self.heads = h
        self.linear_q = nn.Linear(d, d)
        self.linear_k = nn.Linear(d, d)
        self.linear_v = nn.Linear(d, d)
        self.linear_out = nn.Linear(d, d)
        self.linear_pos = nn.Linear(d, d, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(h, config.head_dim))
        self.pos_bias_v = nn.Parameter(torch.zeros(h, config.head_dim))

    def forward(self, x: Tensor, pos: Tensor, key_mask: Tensor) -> Tensor:
        """x: [B, T', D], pos: [1, T', D] sinusoids, key_mask: [B, T'] (True = real frame) -> [B, T', D]."""
        b, t, d = x.shape
        k_dim = d // self.heads
        q = self.linear_q(x).view(b, t, self.heads, k_dim)
        k = self.linear_k(x).view(b, t, self.heads, k_dim).transpose(1, 2)
        v = self.linear_v(x).view(b, t, self.heads, k_dim).transpose(1, 2)
        p = self.linear_pos(pos).view(1, t, self.heads, k_dim).transpose(1, 2)
        content = (q + self.pos_bias_u).transpose(1, 2) @ k.transpose(-2, -1)
        position = (q + self.pos_bias_v).transpose(1, 2) @ p.transpose(-2, -1)
        scores = (content + position) / math.sqrt(k_dim)  # [B, H, T', T']
        padded = ~key_mask[:, None, None, :]
        weights = scores.masked_fill(padded, float("-inf")).softmax(dim=-1).masked_fill(padded, 0.0)
        out = (weights @ v).transpose(1, 2).reshape(b, t, d)
        return self.linear_out(out)


class FeedForward(nn.Module):
    """Position-wise ``w_2(SiLU(w_1 x))``: [B, T', D] → [B, T', D]."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.w_1 = nn.Linear(config.dim, config.ffn_dim)
        self.w_2 = nn.Linear(config.ffn_dim, config.dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(F.silu(self.w_1(x)))


class ConvolutionModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, LayerNorm, SiLU, pointwise conv; padded frames zeroed in and out."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        d = config.dim
        self.pointwise_conv1 = nn.Conv1d(d, 2 * d, 1)
        self.depthwise_conv = nn.Conv1d(d, d, config.kernel_size, padding=config.kernel_size // 2, groups=d)
        self.norm = nn.LayerNorm(d, eps=config.eps)
        self.pointwise_conv2 = nn.Conv1d(d, d, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: [B, T', D], mask: [B, T'] -> [B, T', D]."""
        padded = ~mask[:, None, :]
        h = x.transpose(1, 2).masked_fill(padded, 0.0)
        h = self.depthwise_conv(F.glu(self.pointwise_conv1(h), dim=1))
        h = F.silu(self.norm(h.transpose(1, 2))).transpose(1, 2)
        h = self.pointwise_conv2(h).masked_fill(padded, 0.0)
        return h.transpose(1, 2)


class ConformerBlock(nn.Module):
    """Pre-norm residual attention, convolution and feed-forward, then a final LayerNorm."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.self_attn = RelPositionAttention(config)
        self.feed_forward = FeedForward(config)
        self.conv_module = ConvolutionModule(config)
        self.norm_ff = nn.LayerNorm(config.dim, eps=config.eps)
        self.norm_mha = nn.LayerNorm(config.dim, eps=config.eps)
        self.norm_conv = nn.LayerNorm(config.dim, eps=config.eps)
        self.norm_final = nn.LayerNorm(config.dim, eps=config.eps)

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor) -> Tensor:
        """x: [B, T', D], pos: [1, T', D], mask: [B, T'] -> [B, T', D]."""
        x = x + self.self_attn(self.norm_mha(x), pos, mask)
        x = x + self.conv_module(self.norm_conv(x), mask)
        x = x + self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class ConformerEncoder(nn.Module):
    """Subsample, run the blocks, normalise: ([B, T, F], lengths [B]) → ([B, T', D], mask [B, T'])."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = Conv2dSubsampling2(config)
        self.encoders = nn.ModuleList(ConformerBlock(config) for _ in range(config.num_blocks))
        self.after_norm = nn.LayerNorm(config.dim, eps=config.eps)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x: [B, T, F]; lengths: [B] valid frames (may exceed T: then nothing is masked).

        Returns the encoded frames [B, T', D] and their validity mask [B, T'] (True = real frame).
        """
        frames = torch.arange(x.shape[1], device=x.device)
        mask = (frames[None, :] < lengths.to(x.device)[:, None])[:, 2::2]
        h = self.embed(x)
        pos = self.embed.pos_enc(h.shape[1])
        for block in self.encoders:
            h = block(h, pos, mask)
        return self.after_norm(h), mask
