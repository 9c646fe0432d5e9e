"""WaveNet head of the s2mel DiT: gated dilated convolutions conditioned on a time embedding.

Shape letters: B batch, H hidden channels, T mel frames.

This is the VITS-style non-causal ``WN`` stack the DiT ends with. Its convolutions pad by *reflection*
(the EnCodec ``SConv1d`` wrappers it was trained with), not with zeros; zero padding changes the first and
last frames. Weight norm is folded at load, so the layers here are plain ``nn.Conv1d`` without padding and
the padding is applied explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_engine.config import ModelConfig
from tts_engine.networks.layers import reflect_pad1d


@dataclass(frozen=True)
class WaveNetArgs:
    """Sizes of the WaveNet head (config.yaml ``s2mel.wavenet``)."""

    hidden_dim: int
    num_layers: int
    kernel_size: int
    dilation_rate: int

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> WaveNetArgs:
        """Read the ``s2mel.wavenet`` section of config.yaml."""
        section = cfg.get("s2mel.wavenet")
        return cls(
            hidden_dim=int(section["hidden_dim"]),
            num_layers=int(section["num_layers"]),
            kernel_size=int(section["kernel_size"]),
            dilation_rate=int(section["dilation_rate"]),
        )


class ReflectConv1d(nn.Conv1d):
    """Stride-1 convolution with "same" reflection padding split as the EnCodec wrapper splits it
    (the larger half on the left when the total is odd). A 1x1 convolution runs as a matrix product,
    which is what it is (and several times faster than PyTorch's CPU convolution path for it)."""

    @property
    def left_padding(self) -> int:
        total = (self.kernel_size[0] - 1) * self.dilation[0]
        return total - total // 2

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, T] -> [B, C_out, T]."""
        if self.kernel_size[0] == 1:
            return F.linear(x.transpose(1, 2), self.weight[:, :, 0], self.bias).transpose(1, 2)
        left = self.left_padding
        right = (self.kernel_size[0] - 1) * self.dilation[0] - left
        return super().forward(reflect_pad1d(x, left, right))


class WaveNet(nn.Module):
    """Gated residual stack: ``tanh(a) * sigmoid(b)`` of (dilated conv + per-layer conditioning), with
    residual and skip outputs; the last layer emits skip channels only."""

    def __init__(self, args: WaveNetArgs) -> None:
        super().__init__()
        h = args.hidden_dim
        self.hidden_dim = h
        self.cond_layer = ReflectConv1d(h, 2 * h * args.num_layers, 1)
        self.in_layers = nn.ModuleList(
            ReflectConv1d(h, 2 * h, args.kernel_size, dilation=args.dilation_rate**i) for i in range(args.num_layers)
        )
        self.res_skip_layers = nn.ModuleList(
            ReflectConv1d(h, 2 * h if i < args.num_layers - 1 else h, 1) for i in range(args.num_layers)
        )

    @property
    def halo(self) -> int:
        """Frames at the left edge of a cropped input that the stack gets wrong: each layer reads its
        left padding's worth of frames that the crop replaced by reflections. Running the stack on frames
        [s - halo, T) gives exact outputs for [s, T)."""
        return sum(layer.left_padding for layer in self.in_layers)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        """x: [B, H, T], g: [B, H, 1] (conditioning, broadcast over time) -> [B, H, T].

        Every frame is valid (one utterance per batch row), so there is no padding mask.
        """
        h = self.hidden_dim
        conditioning = self.cond_layer(g).split(2 * h, dim=1)
        output = torch.zeros_like(x)
        last = len(self.in_layers) - 1
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            pre = in_layer(x).add_(conditioning[i])
            acts = torch.tanh_(pre[:, :h]).mul_(torch.sigmoid_(pre[:, h:]))
            res_skip_acts = res_skip(acts)
            if i < last:
                x = x + res_skip_acts[:, :h]
                output = output + res_skip_acts[:, h:]
            else:
                output = output + res_skip_acts
        return output
