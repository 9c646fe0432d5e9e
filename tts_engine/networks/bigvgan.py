"""BigVGAN v2 vocoder: mel spectrogram -> 22.05 kHz waveform.

Shape letters: B batch, M mel bins, T mel frames, C channels, N samples (= T x hop).

The generator is ``conv_pre`` -> for each stage (transposed-convolution upsampling, then the mean of
``len(resblock_kernel_sizes)`` anti-aliased multi-periodicity residual blocks) -> anti-aliased SnakeBeta ->
``conv_post`` -> clamp to [-1, 1] (or tanh). "Anti-aliased" means every activation runs at twice the
sample rate: upsample x2 with a Kaiser-windowed sinc low-pass, apply SnakeBeta
``x + sin^2(alpha x) / (beta + 1e-9)``, low-pass and decimate x2. The filters are the buffers stored in
the checkpoint.

Why hand-written: NVIDIA's package (and the copy vendored by the reference) needs its own AttrDict config,
hub mix-ins and a runtime weight-norm removal; here weight norm is folded once at load and the network is
plain PyTorch. Checkpoint keys differ from this module's in three mechanical ways, all in
:func:`checkpoint_key`.

Layout: between layers a signal is [B, C, 1, N] in channels-last memory (time-major, channels innermost) and
every convolution is the equivalent 2-D one over the width (:func:`_conv`); the anti-aliased activations work
in polyphase form on that layout (:class:`AliasFreeSnakeBeta`). On CPU this is what oneDNN runs natively, so
the depthwise filters run near memory speed instead of several times slower; the arithmetic is the
reference's, the summation order (float rounding) differs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_engine.config import ModelConfig
from tts_engine.errors import ModelFolderError
from tts_engine.loading import fold_weight_norm, load_strict, on_meta, read_tensors, sub_state

CONFIG_FILE = "hf_cache/bigvgan/config.json"
WEIGHTS_FILE = "hf_cache/bigvgan/bigvgan_generator.pt"


@dataclass(frozen=True)
class BigVGANArgs:
    """Generator hyper-parameters from BigVGAN's ``config.json`` plus the constants its code hard-codes."""

    num_mels: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    snake_logscale: bool
    use_tanh_at_final: bool
    use_bias_at_final: bool
    sampling_rate: int
    # Hard-coded by BigVGAN: pre/post convolution kernel, anti-aliasing ratio and filter length, Snake epsilon.
    edge_kernel_size: int = 7
    alias_ratio: int = 2
    alias_kernel_size: int = 12
    snake_eps: float = 1e-9

    @property
    def hop_size(self) -> int:
        """Samples per mel frame: the product of the upsampling rates."""
        return int(torch.tensor(self.upsample_rates).prod())

    @classmethod
    def from_json(cls, h: Mapping[str, Any], *, source: str = "config.json") -> BigVGANArgs:
        """Build from the released ``config.json`` mapping; refuse variants other than AMP block 1 + SnakeBeta."""
        if str(h["resblock"]) != "1" or h["activation"] != "snakebeta":
            raise ModelFolderError(
                f"resblock {h['resblock']!r} / activation {h['activation']!r} not supported "
                "(BigVGAN v2 uses resblock '1' with 'snakebeta')",
                file=source,
            )
        return cls(
            num_mels=int(h["num_mels"]),
            upsample_rates=tuple(int(u) for u in h["upsample_rates"]),
            upsample_kernel_sizes=tuple(int(k) for k in h["upsample_kernel_sizes"]),
            upsample_initial_channel=int(h["upsample_initial_channel"]),
            resblock_kernel_sizes=tuple(int(k) for k in h["resblock_kernel_sizes"]),
            resblock_dilation_sizes=tuple(tuple(int(d) for d in ds) for ds in h["resblock_dilation_sizes"]),
            snake_logscale=bool(h.get("snake_logscale", True)),
            use_tanh_at_final=bool(h.get("use_tanh_at_final", True)),
            use_bias_at_final=bool(h.get("use_bias_at_final", True)),
            sampling_rate=int(h["sampling_rate"]),
        )

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> BigVGANArgs:
        """Read ``hf_cache/bigvgan/config.json`` of the model folder."""
        path = cfg.file(CONFIG_FILE)
        try:
            h = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelFolderError(f"cannot read the BigVGAN config ({exc})", file=path) from exc
        return cls.from_json(h, source=str(path))


# Checkpoint key -> module key. `ups.i.0.` wraps each transposed conv in a one-element list; the
# activations nest SnakeBeta under `act` and the filters under `upsample` / `downsample.lowpass`.
_KEY_RENAMES = (
    (re.compile(r"^ups\.(\d+)\.0\."), r"ups.\1."),
    (re.compile(r"\.act\.(alpha|beta)$"), r".\1"),
    (re.compile(r"\.upsample\.filter$"), ".upsample_filter"),
    (re.compile(r"\.downsample\.lowpass\.filter$"), ".downsample_filter"),
)


def checkpoint_key(key: str) -> str:
    """Map a key of ``bigvgan_generator.pt``'s ``generator`` state_dict (weight norm folded) to ours."""
    for pattern, replacement in _KEY_RENAMES:
        key = pattern.sub(replacement, key)
    return key


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """The anti-aliasing low-pass: a Kaiser-windowed sinc, normalised to unit sum -> [1, 1, kernel_size].

    ``cutoff`` and ``half_width`` are fractions of the sample rate; the Kaiser beta follows Kaiser's formula
    for the attenuation ``A = 2.285 (N/2 - 1) pi (4 half_width) + 7.95`` dB. Taps sit at half-integer
    offsets for an even length (no centre tap). Checkpoints store these values; computing them lets a
    freshly built network (tests, benchmarks) filter properly.
    """
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta)
    even = kernel_size % 2 == 0
    time = torch.arange(-half, half) + 0.5 if even else torch.arange(kernel_size) - half
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (taps / taps.sum()).view(1, 1, kernel_size)


def _channels_last(x: Tensor, height: int, width: int) -> Tensor:
    """``x`` ([B, C, h, w] with h x w = height x width) as [B, C, height, width] over the same channels-last
    memory (time-major, channels innermost), without a copy when ``x`` already is channels-last.

    Explicit strides because ``view`` gives size-1 dimensions (a batch of one included) strides that make
    PyTorch read the tensor as NCHW, and convolutions then return NCHW outputs.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    b, c = x.shape[:2]
    return x.as_strided((b, c, height, width), (c * height * width, 1, c * width, c))


def _conv(conv: nn.Conv1d | nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """``conv`` over x: [B, C, 1, N] (channels-last) as the 2-D convolution with a [1, K] kernel.

    Why 2-D: oneDNN runs channels-last convolutions over the width natively (1-D and NCHW inputs are
    reordered to its own layout and back on every call). That is what the depthwise anti-aliasing filters
    need; for the dense convolutions it is about even (faster at few channels, a little slower at 768; see
    also :meth:`BigVGAN._store_weights_channels_last`), except at padded edges, where its float32 kernels
    slow down by up to 40 % for kernel 11: so the zero padding is a copy made here (a pass over a 1x-rate
    signal, cheap next to the convolution). The module keeps its 1-D weights (checkpoint keys and shapes)
    and the computation runs in their dtype, the result back in the activations' dtype: normally both are
    float32 and nothing is cast; see :meth:`BigVGAN.cast_convolutions`.
    """
    weight = conv.weight.unsqueeze(2)
    x_in = x.to(weight.dtype)
    stride, dilation = (1, conv.stride[0]), (1, conv.dilation[0])
    if isinstance(conv, nn.ConvTranspose1d):  # its padding crops the output: nothing to copy
        padding, output_padding = (0, conv.padding[0]), (0, conv.output_padding[0])
        y = F.conv_transpose2d(x_in, weight, conv.bias, stride, padding, output_padding, dilation=dilation)
    else:
        pad = conv.padding[0]
        y = F.conv2d(F.pad(x_in, (pad, pad)), weight, conv.bias, stride, dilation=dilation)
    return y.to(x.dtype)


def _edge_sums(kernel: Tensor, stride: int, before: int, after: int) -> tuple[Tensor, Tensor]:
    """Per unit of the edge sample, what replicate padding adds over zero padding to a correlation's edge outputs.

    ``kernel``: [K, ...] taps along dim 0. The first output's window starts ``before`` samples ahead of the
    signal and each next one ``stride`` later; the last one's ends ``after`` samples past it. Returns the sums
    of the taps that fall outside: left [ceil(before / stride), ...] for the first outputs, right
    [ceil(after / stride), ...] for the last ones, both in output order.
    """
    k = kernel.shape[0]
    left = [kernel[: before - stride * j].sum(0) for j in range(-(-before // stride))]
    right = [kernel[k - after + stride * j :].sum(0) for j in range(-(-after // stride))]
    return torch.stack(left), torch.stack(right[::-1])


def _add_replicate_edges(out: Tensor, signal: Tensor, left: Tensor, right: Tensor) -> None:
    """Turn ``out`` [B, C, M, W], a zero-padded correlation of ``signal`` [B, C, L, 1] (time along dim 2),
    into the replicate-padded one, in place: the first / last outputs get the edge sample times
    :func:`_edge_sums`' ``left`` / ``right`` ([E, W])."""
    m = out.shape[2]
    n = min(left.shape[0], m)
    out[:, :, :n].addcmul_(signal[:, :, :1], left[:n])
    n = min(right.shape[0], m)
    out[:, :, m - n :].addcmul_(signal[:, :, -1:], right[right.shape[0] - n :])


class AliasFreeSnakeBeta(nn.Module):
    """SnakeBeta evaluated at twice the rate: replicate-pad, x2 sinc upsampling (transposed depthwise
    conv scaled by the ratio), SnakeBeta, replicate-pad, low-pass and x2 decimation.

    Computed in a form that costs about one pass over the 2x-rate signal per step (the reference's form, a
    transposed convolution, crops and padding copies, costs several):

    * Upsampling in polyphase form: output ``r n + p`` (ratio r) is a short correlation of the input around
      ``n`` with phase p's taps (every r-th tap of the filter). A depthwise 2-D convolution of the input seen
      as [B, C, N, 1] with a [taps, r] kernel and r - 1 columns of zero padding writes phase p to column p,
      so its channels-last [B, C, N, r] output *is* the interleaved 2x-rate signal, viewed as [B, C, 1, r N].
    * SnakeBeta on that buffer, in place but for one temporary (``sin``).
    * Decimation: a stride-r depthwise convolution over the width.
    * Replicate padding: both convolutions pad with zeros (free inside oneDNN / cuDNN), then the few outputs
      whose windows overhang an edge get the edge sample times the overhanging taps' sum added
      (:func:`_edge_sums`): equal to padding by replication, up to float rounding.
    """

    def __init__(self, channels: int, args: BigVGANArgs) -> None:
        super().__init__()
        self.logscale = args.snake_logscale
        self.eps = args.snake_eps
        self.ratio = r = args.alias_ratio
        k = args.alias_kernel_size
        self.alpha = nn.Parameter(torch.zeros(channels) if self.logscale else torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels) if self.logscale else torch.ones(channels))
        # Deterministic, but the checkpoint stores them and the stored values are what the model used.
        # Up- and down-sampling use the same design: cutoff at half the lower rate, transition 0.6 of it.
        lowpass = kaiser_sinc_filter(0.5 / r, 0.6 / r, k)
        self.register_buffer("upsample_filter", lowpass.clone())
        self.register_buffer("downsample_filter", lowpass.clone())
        # The reference's transposed convolution, cropped, centres the filter on output r n + p at tap
        # `up_centre` + p; phases reach `up_reach` input samples either side of n.
        self.up_centre = (k - r) // 2
        self.up_reach = -(-max(self.up_centre, k - r - self.up_centre) // r)
        # The reference pads (k // 2 - 1, k // 2) for an even k, (k // 2, k // 2) for an odd one, but the last
        # decimated window ends `k - down_pad - r` samples past the signal, so symmetric zero padding suffices.
        self.down_pad = k // 2 - int(k % 2 == 0)

    def _phases(self) -> Tensor:
        """[2 reach + 1, r]: ``[t, p]`` weighs input ``n + t - reach`` in output ``r n + p`` (gain r included)."""
        taps = self.ratio * self.upsample_filter.flatten()
        r, reach = self.ratio, self.up_reach
        padded = F.pad(taps, (r * reach - self.up_centre, r * (reach + 1) + self.up_centre - taps.shape[0]))
        return padded.view(2 * reach + 1, r).flip(0)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, 1, N] channels-last -> [B, C, 1, N] channels-last."""
        channels, n, r = x.shape[1], x.shape[-1], self.ratio
        column = _channels_last(x, n, 1)
        phases = self._phases()
        up = F.conv2d(
            column,
            phases.flip(1).expand(channels, 1, -1, -1),  # a correlation reads the width-1 input at column r-1-p
            padding=(self.up_reach, r - 1),
            groups=channels,
        )
        _add_replicate_edges(up, column, *_edge_sums(phases, 1, self.up_reach, self.up_reach))
        up = _channels_last(up, 1, r * n)

        alpha, beta = self.alpha.view(1, -1, 1, 1), self.beta.view(1, -1, 1, 1)
        if self.logscale:
            alpha, beta = torch.exp(alpha), torch.exp(beta)
        sin = torch.mul(up, alpha).sin_()
        act = up.addcmul_(sin.mul_(sin), 1.0 / (beta + self.eps))

        taps = self.downsample_filter.flatten()
        out = F.conv2d(
            act,
            taps.view(1, 1, 1, -1).expand(channels, -1, -1, -1),
            stride=(1, r),
            padding=(0, self.down_pad),
            groups=channels,
        )
        edges = _edge_sums(taps[:, None], r, self.down_pad, taps.shape[0] - self.down_pad - r)
        _add_replicate_edges(out.transpose(2, 3), act.transpose(2, 3), *edges)
        return out


class AMPBlock(nn.Module):
    """Anti-aliased multi-periodicity residual block (BigVGAN "AMPBlock1"): for each dilation d,
    ``x += conv2(act2(conv1_d(act1(x))))`` with same-length padding."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...], args: BigVGANArgs):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size, 1)) for _ in dilations
        )
        self.activations = nn.ModuleList(AliasFreeSnakeBeta(channels, args) for _ in range(2 * len(dilations)))

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, 1, N] channels-last -> the same."""
        for i, (conv1, conv2) in enumerate(zip(self.convs1, self.convs2, strict=True)):
            x = x + _conv(conv2, self.activations[2 * i + 1](_conv(conv1, self.activations[2 * i](x))))
        return x


class BigVGAN(nn.Module):
    """The generator, weight norm folded (plain convolutions)."""

    def __init__(self, args: BigVGANArgs) -> None:
        super().__init__()
        self.args = args
        c0, edge = args.upsample_initial_channel, args.edge_kernel_size
        self.conv_pre = nn.Conv1d(args.num_mels, c0, edge, padding=edge // 2)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(c0 // 2**i, c0 // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(args.upsample_rates, args.upsample_kernel_sizes, strict=True))
        )
        self.resblocks = nn.ModuleList(
            AMPBlock(c0 // 2 ** (i + 1), k, d, args)
            for i in range(len(args.upsample_rates))
            for k, d in zip(args.resblock_kernel_sizes, args.resblock_dilation_sizes, strict=True)
        )
        final_channels = c0 // 2 ** len(args.upsample_rates)
        self.activation_post = AliasFreeSnakeBeta(final_channels, args)
        self.conv_post = nn.Conv1d(final_channels, 1, edge, padding=edge // 2, bias=args.use_bias_at_final)
        self._store_weights_channels_last()
        # A load that assigns the file's tensors (a model built on the meta device) brings their layout back.
        self.register_load_state_dict_post_hook(lambda module, _: module._store_weights_channels_last())

    def _store_weights_channels_last(self) -> None:
        """Store each convolution's weight [C_out, C_in, K] with C_in innermost (same shape and values): its
        [C_out, C_in, 1, K] view in :func:`_conv` is then channels-last, as oneDNN's channels-last kernels
        read it, which saves reordering the weight on every call (~10 % of a short float32 forward)."""
        for module in self.modules():
            if type(module) is nn.Conv1d:
                weight = module.weight.detach().transpose(1, 2).contiguous().transpose(1, 2)
                module.weight = nn.Parameter(weight, requires_grad=module.weight.requires_grad)

    def forward(self, mel: Tensor) -> Tensor:
        """mel: [B, M, T] (natural-log magnitude mel) -> waveform [B, 1, T x hop] in [-1, 1].

        Inside, signals are [B, C, 1, N] in channels-last memory (see :func:`_conv`): one layout change here,
        none after (the single output channel makes both layouts the same memory).
        """
        kernels = len(self.args.resblock_kernel_sizes)
        x = _conv(self.conv_pre, _channels_last(mel.unsqueeze(2), 1, mel.shape[-1]))
        for i, up in enumerate(self.ups):
            x = _conv(up, x)
            blocks = self.resblocks[i * kernels : (i + 1) * kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / kernels
        x = _conv(self.conv_post, self.activation_post(x)).squeeze(2)
        return torch.tanh(x) if self.args.use_tanh_at_final else x.clamp(-1.0, 1.0)

    def cast_convolutions(self, dtype: torch.dtype) -> BigVGAN:
        """Keep the dense convolutions' weights in ``dtype`` (bfloat16 for the fast mode) while the
        activations, the anti-aliasing filters and SnakeBeta stay float32: the convolutions are where the
        time goes and they tolerate bfloat16, whereas ``sin(alpha x)`` of bfloat16 inputs is visibly noisy."""
        for module in self.modules():
            if type(module) in (nn.Conv1d, nn.ConvTranspose1d):
                module.to(dtype)
        return self


def load_bigvgan(cfg: ModelConfig) -> BigVGAN:
    """Build on the meta device from ``config.json`` and load ``bigvgan_generator.pt`` strictly, weight norm
    folded (what the reference's ``remove_weight_norm`` computes)."""
    path = cfg.file(WEIGHTS_FILE)
    args = BigVGANArgs.from_model_config(cfg)
    model = on_meta(lambda: BigVGAN(args))
    state = sub_state(read_tensors(path), "generator", source=path)
    load_strict(model, {checkpoint_key(k): v for k, v in fold_weight_norm(state).items()}, source=path)
    return model.eval()
