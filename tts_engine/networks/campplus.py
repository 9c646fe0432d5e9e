"""CAM++ speaker embedding (3D-Speaker's ``CAMPPlus``): Kaldi fbank of a 16 kHz clip → one style vector.

The flow-matching decoder of IndexTTS-2 is conditioned on this embedding (the "style"), and the emotion-vector
path picks rows of ``feat1.pt`` by cosine similarity to it. Architecture (Wang et al., "CAM++: A Fast and Efficient
Network for Speaker Verification Using Context-Aware Masking", 2023):

* a 2-D convolutional front end (``head``: residual blocks that downsample the frequency axis 8×),
* a TDNN layer, then three densely connected blocks of context-aware-masking TDNN layers, each followed by a
  transition layer that halves the channels,
* statistics pooling (mean and *unbiased* standard deviation over time) and a 1×1 projection to the embedding,
  batch-normalised without affine parameters.

Every BatchNorm runs in inference mode on the stored running statistics. Shapes: ``B`` batch, ``T`` fbank frames,
``F`` fbank bins, ``E`` embedding size.

``CampplusConfig``'s first five fields are the constructor arguments the reference passes or leaves at their
defaults (``ReferenceConstants.campplus``); the remaining ones are fixed by the CAM++ design and equal in every
released checkpoint.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig


@dataclass(frozen=True)
class CampplusConfig:
    """Sizes of CAM++. ``freq_downsampling`` is the front end's frequency stride product (2 · 2 · 2)."""

    feat_dim: int
    embedding_size: int
    growth_rate: int
    bn_size: int
    init_channels: int
    head_channels: int = 32
    head_blocks: tuple[int, ...] = (2, 2)
    freq_downsampling: int = 8
    tdnn_kernel: int = 5
    block_layers: tuple[int, ...] = (12, 24, 16)
    block_dilations: tuple[int, ...] = (1, 2, 2)
    block_kernel: int = 3
    cam_reduction: int = 2
    cam_segment: int = 100

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> CampplusConfig:
        dims = cfg.constants.campplus
        return cls(
            feat_dim=dims.feat_dim,
            embedding_size=dims.embedding_size,
            growth_rate=dims.growth_rate,
            bn_size=dims.bn_size,
            init_channels=dims.init_channels,
        )


class _Norm(nn.Module):
    """``nonlinear.batchnorm`` of the checkpoint: BatchNorm1d, optionally followed by ReLU."""

    def __init__(self, channels: int, *, relu: bool = True, affine: bool = True) -> None:
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.batchnorm(x)
        return F.relu(x) if self.relu else x


class ResBlock2d(nn.Module):
    """Two 3×3 convs with BatchNorm and a residual, striding the frequency axis only: ``[B, C, F, T]``."""

    def __init__(self, in_channels: int, channels: int, freq_stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=(freq_stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if freq_stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=(freq_stride, 1), bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class FrontEnd(nn.Module):
    """The 2-D front end (``head``): fbank ``[B, F, T]`` → ``[B, head_channels · F / 8, T]``."""

    def __init__(self, config: CampplusConfig) -> None:
        super().__init__()
        c = config.head_channels
        self.conv1 = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.layer1 = self._stage(c, config.head_blocks[0])
        self.layer2 = self._stage(c, config.head_blocks[1])
        self.conv2 = nn.Conv2d(c, c, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    @staticmethod
    def _stage(channels: int, blocks: int) -> nn.Sequential:
        return nn.Sequential(*(ResBlock2d(channels, channels, 2 if i == 0 else 1) for i in range(blocks)))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.flatten(1, 2)


class TDNNLayer(nn.Module):
    """Strided 1-D convolution with "same" padding, then BatchNorm + ReLU: ``[B, Cin, T]`` → ``[B, Cout, T']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.nonlinear = _Norm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.nonlinear(self.linear(x))


class CAMLayer(nn.Module):
    """Context-aware masking: a local dilated conv gated by a sigmoid of utterance- plus segment-level context.

    The context of frame ``t`` is the mean over all frames plus the mean over its segment of ``cam_segment``
    frames (the last segment may be shorter and is averaged over the frames it has).
    """

    def __init__(self, config: CampplusConfig, dilation: int) -> None:
        super().__init__()
        bn_channels = config.bn_size * config.growth_rate
        k = config.block_kernel
        self.segment = config.cam_segment
        self.linear_local = nn.Conv1d(
            bn_channels, config.growth_rate, k, padding=(k - 1) // 2 * dilation, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // config.cam_reduction, 1)
        self.linear2 = nn.Conv1d(bn_channels // config.cam_reduction, config.growth_rate, 1)

    def forward(self, x: Tensor) -> Tensor:
        frames = x.shape[-1]
        segments = F.avg_pool1d(x, self.segment, self.segment, ceil_mode=True)
        context = x.mean(-1, keepdim=True) + segments.repeat_interleave(self.segment, dim=-1)[..., :frames]
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * gate


class DenseTDNNLayer(nn.Module):
    """BN-ReLU → 1×1 bottleneck → BN-ReLU → CAM layer: ``[B, Cin, T]`` → ``[B, growth_rate, T]``."""

    def __init__(self, config: CampplusConfig, in_channels: int, dilation: int) -> None:
        super().__init__()
        bn_channels = config.bn_size * config.growth_rate
        self.nonlinear1 = _Norm(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _Norm(bn_channels)
        self.cam_layer = CAMLayer(config, dilation)

    def forward(self, x: Tensor) -> Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseTDNNBlock(nn.Module):
    """Densely connected layers: each appends ``growth_rate`` channels computed from all previous ones."""

    def __init__(self, config: CampplusConfig, in_channels: int, num_layers: int, dilation: int) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseTDNNLayer(config, in_channels + i * config.growth_rate, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitLayer(nn.Module):
    """BN-ReLU then a bias-free 1×1 conv that halves the channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _Norm(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.nonlinear(x))


class StatsPool(nn.Module):
    """Mean and unbiased standard deviation over time: ``[B, C, T]`` → ``[B, 2C]``."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class Embedding(nn.Module):
    """Bias-free projection of the pooled statistics, then BatchNorm without affine: ``[B, 2C]`` → ``[B, E]``."""

    def __init__(self, in_channels: int, embedding_size: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, embedding_size, 1, bias=False)
        self.nonlinear = _Norm(embedding_size, relu=False, affine=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """Mean-normalised fbank ``[B, T, F]`` → speaker style ``[B, E]``."""

    def __init__(self, config: CampplusConfig) -> None:
        super().__init__()
        self.config = config
        self.head = FrontEnd(config)
        channels = config.head_channels * (config.feat_dim // config.freq_downsampling)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        stages["tdnn"] = TDNNLayer(channels, config.init_channels, config.tdnn_kernel, stride=2)
        channels = config.init_channels
        for i, (layers, dilation) in enumerate(zip(config.block_layers, config.block_dilations, strict=True), 1):
            stages[f"block{i}"] = DenseTDNNBlock(config, channels, layers, dilation)
            channels += layers * config.growth_rate
            stages[f"transit{i}"] = TransitLayer(channels, channels // 2)
            channels //= 2
        stages["out_nonlinear"] = _Norm(channels)
        stages["stats"] = StatsPool()
        stages["dense"] = Embedding(2 * channels, config.embedding_size)
        self.xvector = nn.Sequential(stages)

    def forward(self, fbank: Tensor) -> Tensor:
        return self.xvector(self.head(fbank.transpose(1, 2)))
