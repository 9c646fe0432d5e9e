"""MaskGCT's semantic codec (RepCodec): w2v-BERT features → discrete semantic codes and back.

IndexTTS-2 uses it twice. On the voice clip, ``quantize`` turns the normalised w2v-BERT features into codes and
their quantised embedding ``S_ref``, from which the s2mel prompt condition is built. After the GPT has generated
codes, ``vq2emb`` looks their embeddings up again for the s2mel decoder.

The encoder is a Vocos backbone (a 1-D ConvNeXt stack) followed by a linear layer. The quantiser is one factorised
vector quantiser (Yu et al., "Vector-quantized image modeling with improved VQGAN"; the same design as DAC's
``VectorQuantize``): a 1×1 convolution projects each frame to a small ``codebook_dim``, the nearest codebook entry
is chosen by cosine similarity (latents and codebook both L2-normalised), and the *un-normalised* entry is
projected back to ``D`` by a second 1×1 convolution. Both projections are stored weight-normalised
(``weight_g``/``weight_v``); ``loading.fold_weight_norm`` merges them before loading.

Shapes: ``B`` batch, ``T`` frames (50 Hz), ``D`` semantic dimension (``hidden_size``), ``H`` Vocos width,
``K`` codebook size, ``d`` codebook dimension.

The checkpoint also holds the codec's decoder (used to train it, never at inference). It is built so the file
loads strictly and is otherwise unused.
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
class SemanticCodecConfig:
    """Sizes of the codec, from ``config.yaml`` → ``semantic_codec``.

    ``kernel_size`` (ConvNeXt and embedding convolutions) and ``norm_eps`` are Vocos constants.
    """

    hidden_size: int
    codebook_size: int
    codebook_dim: int
    vocos_dim: int
    vocos_intermediate_dim: int
    vocos_num_layers: int
    kernel_size: int = 7
    norm_eps: float = 1e-6

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> SemanticCodecConfig:
        names = (
            "hidden_size",
            "codebook_size",
            "codebook_dim",
            "vocos_dim",
            "vocos_intermediate_dim",
            "vocos_num_layers",
        )
        return cls(**{name: cfg.get(f"semantic_codec.{name}", int) for name in names})


class ConvNeXtBlock(nn.Module):
    """Depthwise conv → LayerNorm → MLP (GELU) → per-channel scale ``gamma``, residual: ``[B, H, T]`` → same."""

    def __init__(self, config: SemanticCodecConfig) -> None:
        super().__init__()
        dim = config.vocos_dim
        self.dwconv = nn.Conv1d(dim, dim, config.kernel_size, padding=config.kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=config.norm_eps)
        self.pwconv1 = nn.Linear(dim, config.vocos_intermediate_dim)
        self.pwconv2 = nn.Linear(config.vocos_intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))
        h = self.gamma * self.pwconv2(F.gelu(self.pwconv1(h)))
        return x + h.transpose(1, 2)


class VocosBackbone(nn.Module):
    """Embedding conv → LayerNorm → ConvNeXt blocks → LayerNorm: ``[B, D, T]`` → ``[B, T, H]`` (note the layout)."""

    def __init__(self, config: SemanticCodecConfig) -> None:
        super().__init__()
        dim = config.vocos_dim
        self.embed = nn.Conv1d(config.hidden_size, dim, config.kernel_size, padding=config.kernel_size // 2)
        self.norm = nn.LayerNorm(dim, eps=config.norm_eps)
        self.convnext = nn.ModuleList(ConvNeXtBlock(config) for _ in range(config.vocos_num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=config.norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


def _backbone_with_head(config: SemanticCodecConfig) -> nn.Sequential:
    """The encoder's (and the decoder's) layout: Vocos backbone then ``Linear(H, D)``, ``[B, D, T]`` → ``[B, T, D]``."""
    return nn.Sequential(VocosBackbone(config), nn.Linear(config.vocos_dim, config.hidden_size))


class FactorizedVectorQuantizer(nn.Module):
    """One factorised, cosine-similarity vector quantiser (see the module docstring)."""

    def __init__(self, config: SemanticCodecConfig) -> None:
        super().__init__()
        self.in_project = nn.Conv1d(config.hidden_size, config.codebook_dim, 1)
        self.out_project = nn.Conv1d(config.codebook_dim, config.hidden_size, 1)
        self.codebook = nn.Embedding(config.codebook_size, config.codebook_dim)

    def encode(self, x: Tensor) -> Tensor:
        """Nearest codebook entries of ``x`` ``[B, D, T]``: codes ``[B, T]`` (int64)."""
        latents = F.normalize(self.in_project(x).transpose(1, 2), dim=-1)
        codebook = F.normalize(self.codebook.weight, dim=-1)
        # Ranked by the expanded squared distance |l|² − 2 l·c + |c|² (= 2 − 2·cos for unit vectors), written
        # as the reference writes it so that near-ties round the same way in float32.
        distance = (
            latents.pow(2).sum(-1, keepdim=True) - 2 * latents @ codebook.t() + codebook.pow(2).sum(-1)[None, None, :]
        )
        return distance.argmin(dim=-1)

    def decode(self, codes: Tensor) -> Tensor:
        """Codes ``[B, T]`` → projected codebook vectors ``[B, D, T]``."""
        return self.out_project(self.codebook(codes).transpose(1, 2))


class _QuantizerStack(nn.Module):
    """Holds the quantiser under the checkpoint's ``quantizer.quantizers.0.*`` names (a one-stage residual VQ)."""

    def __init__(self, config: SemanticCodecConfig) -> None:
        super().__init__()
        self.quantizers = nn.ModuleList([FactorizedVectorQuantizer(config)])


class SemanticCodec(nn.Module):
    """RepCodec as IndexTTS-2 uses it: ``quantize`` (features → codes, ``S``) and ``vq2emb`` (codes → ``S``)."""

    def __init__(self, config: SemanticCodecConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = _backbone_with_head(config)
        self.decoder = _backbone_with_head(config)
        self.quantizer = _QuantizerStack(config)

    @property
    def vq(self) -> FactorizedVectorQuantizer:
        return self.quantizer.quantizers[0]

    def quantize(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised w2v-BERT features ``[B, T, D]`` → codes ``[B, T]`` (int64) and ``S`` ``[B, T, D]``."""
        latent = self.encoder(features.transpose(1, 2)).transpose(1, 2)
        codes = self.vq.encode(latent)
        return codes, self.vq.decode(codes).transpose(1, 2)

    def vq2emb(self, codes: Tensor) -> Tensor:
        """Codes ``[B, T]`` → their quantised embedding ``S`` ``[B, T, D]`` (what s2mel adds the GPT latent to)."""
        return self.vq.decode(codes).transpose(1, 2)
