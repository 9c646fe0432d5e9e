"""Small building blocks shared by several networks.

Shape letters: B batch, T time, D feature width.

Every block keeps the parameter names of the official checkpoints (``norm.weight``, ``project_layer.*``,
``mlp.0.*``, ``freqs``) so the files load without renaming.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# oneDNN's linear kernel, which the CPU build of PyTorch ships (it is what torch.compile uses for linear layers).
_ONEDNN_LINEAR = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def project(layer: nn.Module, x: Tensor) -> Tensor:
    """``layer(x)``, a float32 ``nn.Linear`` on a CPU going through oneDNN instead of MKL.

    Why: ``nn.Linear`` calls MKL's ``sgemm``, which on AMD EPYC streams the weights of a 3-row product (a beam-3
    GPT decode step) at ~4 GB/s against ~13 GB/s for one row (one thread); oneDNN streams ~14 GB/s for both and
    is as fast on a prefill. On the DiT's products ([1422, 512] x [512, 1536], two threads) oneDNN reaches
    ~180 GFLOP/s against MKL's ~150, one float32 DiT evaluation 6 % less CPU time. (The GPT checkpoint's
    [in, out] layout would give one row ~19 GB/s, but 3 rows ~10 GB/s with either library, and keeping both
    layouts would cost 1.9 GB.) Quantised layers (fast mode), other dtypes and other devices run as they are.
    """
    if _ONEDNN_LINEAR and type(layer) is nn.Linear and x.is_cpu and x.dtype == layer.weight.dtype == torch.float32:
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "none", [], "")
    return layer(x)


class RMSNorm(nn.Module):
    """Root-mean-square normalisation with a learned gain (no centring, no bias).

    Normalised in float32 whatever the input dtype (the mean of squares loses most of its precision in half
    precision), then cast back and scaled by the gain, in the reference's order.
    """

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: [..., D] -> [..., D]."""
        return F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).type_as(x) * self.weight


class AdaptiveRMSNorm(nn.Module):
    """RMSNorm whose gain and bias are predicted from a conditioning vector (AdaLN).

    ``gain, bias = project_layer(c)``; the output is ``gain * rmsnorm(x) + bias``. The gain is used as is
    (not ``1 + gain``), which is what the s2mel DiT was trained with.
    """

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.project_layer = nn.Linear(dim, 2 * dim)
        self.norm = RMSNorm(dim, eps)

    def modulation(self, c: Tensor) -> tuple[Tensor, Tensor]:
        """c: [B, 1, D] -> (gain, bias), each [B, 1, D]. Split out so callers can precompute it per step."""
        gain, bias = self.project_layer(c).chunk(2, dim=-1)
        return gain, bias

    def forward(self, x: Tensor, modulation: tuple[Tensor, Tensor]) -> Tensor:
        """x: [B, T, D], modulation from :meth:`modulation` -> [B, T, D]."""
        gain, bias = modulation
        return torch.addcmul(bias, self.norm(x), gain)


class TimestepEmbedding(nn.Module):
    """Sinusoidal embedding of a scalar time followed by a two-layer SiLU MLP (DiT / GLIDE style).

    The frequencies are a persistent buffer of the checkpoint (``freqs`` [F/2]); the argument of the
    sinusoids is ``scale * t * freqs`` and the features are ``[cos, sin]`` in that order.
    """

    def __init__(self, frequency_dim: int, hidden_dim: int, scale: float, max_period: float) -> None:
        super().__init__()
        half = frequency_dim // 2
        exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32) / half
        self.register_buffer("freqs", torch.exp(exponent))
        self.scale = scale
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim))

    def forward(self, t: Tensor) -> Tensor:
        """t: [B] (float, may be fractional) -> [B, hidden_dim]."""
        args = self.scale * t[:, None].float() * self.freqs[None]
        features = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


def reflect_pad1d(x: Tensor, left: int, right: int) -> Tensor:
    """Reflect-pad the last axis, also when it is not longer than the padding.

    ``F.pad(mode="reflect")`` needs ``pad < length``; for shorter inputs zeros are appended first and cut
    again afterwards, the rule of the EnCodec convolution wrappers the WaveNet head was built with.
    x: [B, C, T] -> [B, C, left + T + right].
    """
    length = x.shape[-1]
    extra = max(left, right) - length + 1 if length <= max(left, right) else 0
    if extra:
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extra]
