"""Emotion control: the emotion vector the GPT is conditioned on, from a clip, from 8 values, or from a preset.

IndexTTS-2 adds one emotion vector (GPT width D) to every speaker latent. ``infer_generator`` builds it in up to
three steps, reproduced here:

1. **From audio** — :func:`merge_emovec`: the GPT's emotion encoder is run on the speaker clip and on the
   emotion clip, and the two vectors are blended, ``speaker + alpha · (emotion − speaker)``. With no separate
   emotion clip the speaker clip is both and alpha is forced to 1.
2. **From 8 values** (happy, angry, sad, afraid, disgusted, melancholic, surprised, calm) — :func:`mix_emotions`:
   alpha (clamped to [0, 1]) scales the values, each truncated to 4 decimals, as the reference does; for each of
   the 8 groups of rows of ``feat1.pt`` (speaker styles, split by ``emo_num``) the row most cosine-similar to
   the speaker's CAMPPlus style is picked, and the matching ``feat2.pt`` rows (emotion vectors) are summed with
   the values as weights. :meth:`EmotionMix.apply` then gives ``mix + (1 − Σ weights) · audio_vector``.
   (``normalize_emo_vec``, the web UI's bias table, is not part of ``infer_generator`` and not applied.)
3. **Presets** — named 8-value vectors for incident announcements (calm, urgent, reassuring, concerned) with an
   intensity that scales them; they feed step 2.

Shape letters: D GPT width, S style width (CAMPPlus), R rows of the emotion matrices (Σ emo_num).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.nn import functional as F

from tts_engine.errors import InvalidRequest, ModelFolderError
from tts_engine.loading import read_tensor

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig
    from tts_engine.networks.gpt import UnifiedVoice

EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")

# Incident-announcement presets over EMOTIONS. Each sums to at most 0.8, the cap the reference web UI puts on a
# vector, so some of the speaker clip's own emotion always remains (weight 1 − Σ).
PRESETS: Mapping[str, tuple[float, ...]] = {
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "calm": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6),
    "urgent": (0.0, 0.25, 0.0, 0.2, 0.0, 0.0, 0.3, 0.0),
    "reassuring": (0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.45),
    "concerned": (0.0, 0.0, 0.3, 0.25, 0.0, 0.15, 0.0, 0.0),
}


def preset_vector(name: str, intensity: float = 1.0) -> list[float]:
    """A preset's 8 values scaled by ``intensity`` in [0, 1] (0 = the speaker clip's own emotion)."""
    if name not in PRESETS:
        raise InvalidRequest(f"unknown emotion preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    if not 0.0 <= intensity <= 1.0:
        raise InvalidRequest(f"emotion intensity must be in [0, 1], got {intensity}")
    return [value * intensity for value in PRESETS[name]]


def check_emotion_vector(values: Sequence[float]) -> list[float]:
    """An 8-value emotion vector as floats; wrong length, negative or non-finite values are refused."""
    if len(values) != len(EMOTIONS):
        raise InvalidRequest(f"an emotion vector has {len(EMOTIONS)} values ({', '.join(EMOTIONS)}), got {len(values)}")
    floats = [float(v) for v in values]
    if not all(math.isfinite(v) and v >= 0.0 for v in floats):
        raise InvalidRequest(f"emotion values must be finite and non-negative, got {floats}")
    return floats


def scale_emotions(values: Sequence[float], emo_alpha: float) -> list[float]:
    """``infer_generator``'s alpha on 8 values: s = clamp(alpha, 0, 1); unless s is 1, ``int(x·s·10⁴)/10⁴``."""
    scale = max(0.0, min(1.0, emo_alpha))
    if scale == 1.0:
        return list(values)
    return [int(x * scale * 10000) / 10000 for x in values]


def merge_emovec(
    model: UnifiedVoice,
    speaker_emb: Tensor,
    emotion_emb: Tensor,
    speaker_lengths: Tensor,
    emotion_lengths: Tensor,
    alpha: float,
) -> Tensor:
    """Blend the emotion vectors of two clips' semantic features ([1, T, F] each) -> [1, D]."""
    base = model.emotion_vector(speaker_emb, speaker_lengths)
    target = model.emotion_vector(emotion_emb, emotion_lengths)
    return blend(base, target, alpha)


def blend(base: Tensor, target: Tensor, alpha: float) -> Tensor:
    """``base + alpha · (target − base)``, the reference's form (alpha 0 gives base, 1 gives target)."""
    return base + alpha * (target - base)


@dataclass(frozen=True)
class EmotionMatrices:
    """``feat1.pt`` (speaker styles [R, S]) and ``feat2.pt`` (emotion vectors [R, D]), split into 8 groups."""

    speaker: tuple[Tensor, ...]
    emotion: tuple[Tensor, ...]

    @classmethod
    def load(cls, cfg: ModelConfig) -> EmotionMatrices:
        """Read both files named by ``spk_matrix`` / ``emo_matrix`` and split them by ``emo_num``."""
        groups = cfg.emo_num
        if len(groups) != len(EMOTIONS):
            raise ModelFolderError(
                f"needs {len(EMOTIONS)} groups, found {len(groups)}", file=cfg.file("config.yaml"), key="emo_num"
            )
        split = []
        for key in ("spk_matrix", "emo_matrix"):
            path = cfg.file(cfg.get(key, str))
            matrix = read_tensor(path)
            if matrix.dim() != 2 or matrix.shape[0] != sum(groups):
                raise ModelFolderError(
                    f"expected [{sum(groups)}, width] rows (sum of emo_num), found {list(matrix.shape)}", file=path
                )
            split.append(tuple(matrix.float().split(list(groups))))
        return cls(speaker=split[0], emotion=split[1])


@dataclass(frozen=True)
class EmotionMix:
    """The 8-value path's result: the weights used [8], the row picked per group [8], their weighted sum [1, D]."""

    weights: Tensor
    indices: Tensor
    vector: Tensor

    def apply(self, emovec: Tensor) -> Tensor:
        """The final emotion vector: ``vector + (1 − Σ weights) · emovec`` ([1, D] -> [1, D])."""
        return self.vector + (1 - self.weights.sum()) * emovec


def mix_emotions(values: Sequence[float], emo_alpha: float, style: Tensor, matrices: EmotionMatrices) -> EmotionMix:
    """Weights from 8 values and alpha; per group the ``feat1`` row nearest the style [1, S] (cosine)."""
    scaled = scale_emotions(check_emotion_vector(values), emo_alpha)
    weights = torch.tensor(scaled, dtype=torch.float32, device=matrices.emotion[0].device)
    indices = torch.stack([F.cosine_similarity(style.float(), rows, dim=1).argmax() for rows in matrices.speaker])
    rows = torch.stack([group[int(i)] for group, i in zip(matrices.emotion, indices, strict=True)])
    return EmotionMix(weights=weights, indices=indices, vector=(weights[:, None] * rows).sum(dim=0, keepdim=True))
