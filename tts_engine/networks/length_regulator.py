"""The s2mel length regulator: semantic features at 50 Hz → content condition at the mel frame rate.

IndexTTS-2 conditions its flow-matching decoder on a content sequence that has exactly as many frames as the mel
spectrogram it produces. The length regulator (Seed-VC's ``InterpolateRegulator`` in its continuous-input form)
gets there by projecting the semantic features to ``C`` channels, stretching the time axis by nearest-neighbour
interpolation, and smoothing the result with a small stack of convolutions.

Shapes: ``B`` batch, ``T`` input frames, ``Ty`` output frames, ``D`` semantic dimension, ``C`` channels.

The weights live in ``s2mel.pth`` under ``net.length_regulator.*``; this module's keys are those without the
prefix. Two tensors of that section (``embedding.weight``, for discrete content codes, and ``mask_token``) belong to
modes that IndexTTS-2 does not use; they are kept so the section loads strictly and are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tts_engine.errors import ModelFolderError

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig


@dataclass(frozen=True)
class LengthRegulatorConfig:
    """Sizes of the length regulator, from ``config.yaml`` → ``s2mel.length_regulator``.

    ``num_blocks`` is the number of ``sampling_ratios`` (one conv block per entry; their values only matter to
    training). ``codebook_size`` sizes the unused discrete-content embedding; ``groups`` and ``kernel_size`` are
    the reference's constructor defaults.
    """

    in_channels: int
    channels: int
    num_blocks: int
    codebook_size: int
    groups: int = 1
    kernel_size: int = 3

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> LengthRegulatorConfig:
        """Read ``s2mel.length_regulator``; refuse the variants IndexTTS-2 never ships (other weights or maths)."""
        section = cfg.get("s2mel.length_regulator")
        unsupported = {
            "is_discrete": section.get("is_discrete", False),
            "vector_quantize": section.get("vector_quantize", False),
            "f0_condition": section.get("f0_condition", False),
            "n_codebooks > 1": section.get("n_codebooks", 1) > 1,
            "empty sampling_ratios": not section.get("sampling_ratios"),
        }
        enabled = [name for name, on in unsupported.items() if on]
        if enabled:
            raise ModelFolderError(
                f"sets {', '.join(enabled)}: not an IndexTTS-2 length regulator, which this engine implements",
                file=cfg.file("config.yaml"),
                key="s2mel.length_regulator",
            )
        return cls(
            in_channels=cfg.get("s2mel.length_regulator.in_channels", int),
            channels=cfg.get("s2mel.length_regulator.channels", int),
            num_blocks=len(cfg.get("s2mel.length_regulator.sampling_ratios", tuple)),
            codebook_size=cfg.get("s2mel.length_regulator.content_codebook_size", int),
        )


class LengthRegulator(nn.Module):
    """Project, stretch to ``Ty`` frames, convolve: ``[B, T, D]`` → ``[B, Ty, C]``."""

    def __init__(self, config: LengthRegulatorConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        layers: list[nn.Module] = []
        for _ in range(config.num_blocks):
            layers += [
                nn.Conv1d(c, c, config.kernel_size, padding=config.kernel_size // 2),
                nn.GroupNorm(config.groups, c),
                nn.Mish(),
            ]
        layers.append(nn.Conv1d(c, c, 1))
        self.model = nn.Sequential(*layers)
        self.content_in_proj = nn.Linear(config.in_channels, c)
        self.embedding = nn.Embedding(config.codebook_size, c)
        self.mask_token = nn.Parameter(torch.zeros(1, c))

    def forward(self, content: Tensor, lengths: Tensor) -> Tensor:
        """Regulate ``content`` ``[B, T, D]`` to ``lengths`` ``[B]`` (int64) frames.

        Returns ``[B, max(lengths), C]`` with frames at or beyond each item's length zeroed. Output frame ``i``
        copies input frame ``min(floor(i · T / Ty), T − 1)`` with the scale computed in float32, which is
        ``F.interpolate(mode="nearest")``'s rule and the reference's: an exact rational index picks other frames.
        """
        target = int(lengths.max())
        x = self.content_in_proj(content).transpose(1, 2)
        x = F.interpolate(x, size=target, mode="nearest")
        x = self.model(x).transpose(1, 2)
        valid = torch.arange(target, device=lengths.device)[None, :] < lengths[:, None]
        return x * valid[..., None]
