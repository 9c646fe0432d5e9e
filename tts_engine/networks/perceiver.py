"""The perceiver resamplers of the GPT's speaker and emotion conditioning.

A perceiver resampler turns a variable number of encoded frames into a fixed number of latent vectors: learned
latents cross-attend to the frames (and to themselves), a GEGLU feed-forward follows, twice, and an RMS norm
closes. IndexTTS-2 uses two, both inside ``gpt.pth``: ``perceiver_encoder`` gives the speaker's 32 conditioning
latents at GPT width, ``emo_perceiver_encoder`` one emotion latent at the emotion width.

The layout is lucidrains' (``naturalspeech2-pytorch``) as IndexTTS vendors it, and three of its details change the
numbers: the keys are the latents *and* the frames (``cross_attn_include_queries``), padded frames are masked with
``-finfo.max`` (not ``-inf``), and the norm is ``x / max(‖x‖, 1e-12) · √dim · gamma``. Nothing in torch or
transformers has that combination, hence this module.

Shape letters: B batch, S context frames, C context width, N latents, D latent width, H heads, K head width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig


@dataclass(frozen=True)
class PerceiverConfig:
    """Sizes of one resampler.

    Speaker: ``dim`` = GPT ``model_dim``, ``num_latents`` = the reference's hard-coded ``condition_num_latent``
    (32). Emotion: ``dim`` = the emotion latent width (``cfg.constants.emo_latent_dim``, hard-coded 1024 in the
    reference), one latent. ``context_dim``, ``heads`` and ``ff_mult`` come from ``config.yaml`` →
    ``gpt.condition_module`` / ``gpt.emo_condition_module`` (``output_size``, ``attention_heads``,
    ``perceiver_mult``); ``depth`` and ``head_dim`` are the reference's constructor defaults.
    """

    dim: int
    context_dim: int
    num_latents: int
    heads: int
    ff_mult: float
    depth: int = 2
    head_dim: int = 64

    SPEAKER_LATENTS = 32

    @property
    def inner_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def ff_dim(self) -> int:
        """GEGLU width: two thirds of ``dim · ff_mult``, truncated (the reference's rule)."""
        return int(self.dim * self.ff_mult * 2 / 3)

    @classmethod
    def from_model_config(cls, cfg: ModelConfig, *, emotion: bool = False) -> PerceiverConfig:
        """The speaker resampler's sizes, or with ``emotion=True`` the emotion resampler's."""
        gpt = cfg.raw["gpt"]
        section = gpt["emo_condition_module" if emotion else "condition_module"]
        return cls(
            dim=int(cfg.constants.emo_latent_dim) if emotion else int(gpt["model_dim"]),
            context_dim=int(section["output_size"]),
            num_latents=1 if emotion else cls.SPEAKER_LATENTS,
            heads=int(section["attention_heads"]),
            ff_mult=float(section["perceiver_mult"]),
        )


class LatentAttention(nn.Module):
    """Latents attend to ``[latents ; context]`` (no biases): [B, N, D] × [B, S, D] → [B, N, D]."""

    def __init__(self, config: PerceiverConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.to_q = nn.Linear(config.dim, config.inner_dim, bias=False)
        self.to_kv = nn.Linear(config.dim, 2 * config.inner_dim, bias=False)
        self.to_out = nn.Linear(config.inner_dim, config.dim, bias=False)

    def forward(self, latents: Tensor, context: Tensor, key_mask: Tensor | None) -> Tensor:
        """key_mask: [B, N + S] (True = attend) or None."""
        b, n, _ = latents.shape
        sources = torch.cat([latents, context], dim=1)
        q = self.to_q(latents).view(b, n, self.heads, -1).transpose(1, 2)
        k, v = self.to_kv(sources).view(b, sources.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # [B, H, N, N + S]
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], -torch.finfo(scores.dtype).max)
        out = scores.softmax(dim=-1) @ v
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class Geglu(nn.Module):
    """``x · GELU(gate)`` with ``x, gate`` the two halves of the last axis (exact erf GELU)."""

    def forward(self, x: Tensor) -> Tensor:
        value, gate = x.chunk(2, dim=-1)
        return F.gelu(gate) * value


class GegluFeedForward(nn.Sequential):
    """Linear → GEGLU → linear. A sequential so its keys are the checkpoint's ``0.*`` and ``2.*``."""

    def __init__(self, config: PerceiverConfig) -> None:
        super().__init__(nn.Linear(config.dim, 2 * config.ff_dim), Geglu(), nn.Linear(config.ff_dim, config.dim))


class ScaledL2Norm(nn.Module):
    """``x / max(‖x‖₂, 1e-12) · √D · gamma`` over the last axis (the perceiver's "RMSNorm")."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class PerceiverResampler(nn.Module):
    """([B, S, C] frames, optional mask [B, S]) → [B, N, D] latents.

    ``layers.i`` is a pair ``[attention, feed-forward]`` (a plain module list, as the checkpoint keys
    ``layers.i.0.*`` / ``layers.i.1.*`` have it). ``proj_context`` is a linear map only when the context width
    differs from ``dim``, as in the reference.
    """

    def __init__(self, config: PerceiverConfig) -> None:
        super().__init__()
        self.config = config
        self.proj_context = (
            nn.Linear(config.context_dim, config.dim) if config.context_dim != config.dim else nn.Identity()
        )
        self.latents = nn.Parameter(torch.zeros(config.num_latents, config.dim))
        self.layers = nn.ModuleList(
            nn.ModuleList([LatentAttention(config), GegluFeedForward(config)]) for _ in range(config.depth)
        )
        self.norm = ScaledL2Norm(config.dim)

    def forward(self, context: Tensor, mask: Tensor | None = None) -> Tensor:
        """context: [B, S, C]; mask: [B, S] (True = real frame) or None for all frames."""
        x = self.proj_context(context)
        latents = self.latents.expand(x.shape[0], -1, -1)
        key_mask = None
        if mask is not None:
            always = torch.ones(mask.shape[0], self.config.num_latents, dtype=torch.bool, device=mask.device)
            key_mask = torch.cat([always, mask], dim=1)
        for attention, feed_forward in self.layers:
            latents = attention(latents, x, key_mask) + latents
            latents = feed_forward(latents) + latents
        return self.norm(latents)
