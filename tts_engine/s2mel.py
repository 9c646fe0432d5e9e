"""The s2mel stage: GPT latents + semantic codes -> mel spectrogram (the ``s2mel.pth`` container).

Shape letters: T codes, D GPT width, E semantic width, C length-regulator channels, M mel bins,
Tp prompt mel frames, Tt target mel frames (``int(T * 1.72)``, times the length scale), S style width.

``s2mel.pth`` holds three networks under ``net``: ``gpt_layer`` (three stacked linear layers, no
activation, mapping the GPT's hidden states to the semantic width), the ``length_regulator`` and the flow
matching estimator ``cfm.estimator`` (the DiT). The stage computes, as ``infer_generator`` does::

    content = vq2emb(codes) + gpt_layer(latent)                  # [1, T, E]
    target  = int(float32(T) * float32(1.72))                    # 50 Hz codes -> 86.13 Hz mel frames
    cond    = length_regulator(content, target)                  # [1, Tt, C]
    mel     = flow(cat(prompt_condition, cond), ref_mel, style)[..., Tp:]

``vq2emb`` belongs to the semantic codec (another file), so the caller passes the code embedding in.

Duration control lives here because the target length is the one place where speech length is decided: a
``length_scale`` other than 1 asks for ``round(target * length_scale)`` frames instead, and the length regulator
stretches or squeezes the content to them (nearest-neighbour in time), so the flow renders the same phones
slower or faster at the voice's own pitch. With the default scale of 1 the target is the reference's, bit for bit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor, nn

from tts_engine import flow
from tts_engine.config import ModelConfig
from tts_engine.loading import fold_weight_norm, load_strict, on_meta, read_tensors, sub_state
from tts_engine.networks.dit import DiT, DiTArgs
from tts_engine.networks.length_regulator import LengthRegulator, LengthRegulatorConfig

# Checkpoint key (inside ``net``) -> module key. The DiT sits at ``cfm.estimator``
# in the file; its WaveNet convolutions are wrapped twice (``SConv1d`` -> ``NormConv1d`` -> conv).
_KEY_RENAMES = (
    (re.compile(r"^cfm\.estimator\."), "dit."),
    (re.compile(r"\.conv\.conv\.(?=[^.]+$)"), "."),
)
_SECTIONS = ("cfm", "length_regulator", "gpt_layer")


def checkpoint_key(key: str) -> str:
    """Map ``<section>.<key>`` of ``s2mel.pth``'s ``net`` to a key of :class:`S2Mel` (before or after
    weight-norm folding: only prefixes change)."""
    for pattern, replacement in _KEY_RENAMES:
        key = pattern.sub(replacement, key)
    return key


@dataclass(frozen=True)
class S2MelArgs:
    """Sizes of the container besides its networks' own configs."""

    gpt_layer_dims: tuple[int, ...]
    # The reference converts code counts to mel frames with this truncated ratio (86.13 Hz / 50 Hz).
    length_factor: float = 1.72

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> S2MelArgs:
        """``gpt_layer`` widths are hard-coded by the reference: (GPT width, 256, 128, semantic width)."""
        return cls(gpt_layer_dims=tuple(cfg.constants.gpt_layer_dims))


@dataclass(frozen=True)
class S2MelOutput:
    """Every intermediate of one s2mel call (the conformance cases check each)."""

    gpt_layer_latent: Tensor  # [1, T, E]
    content: Tensor  # [1, T, E]  (S_infer)
    target_length: Tensor  # [1] int64
    cond: Tensor  # [1, Tt, C]
    mel: Tensor  # [1, M, Tt]


class S2Mel(nn.Module):
    """``gpt_layer`` + length regulator + DiT, loaded from ``s2mel.pth``."""

    def __init__(self, args: S2MelArgs, dit: DiTArgs, regulator: LengthRegulatorConfig) -> None:
        super().__init__()
        self.args = args
        self.gpt_layer = nn.Sequential(*(nn.Linear(a, b) for a, b in pairwise(args.gpt_layer_dims)))
        self.length_regulator = LengthRegulator(regulator)
        self.dit = DiT(dit)

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> S2Mel:
        """Build (uninitialised weights) from config.yaml and the reference constants."""
        return cls(
            S2MelArgs.from_model_config(cfg),
            DiTArgs.from_model_config(cfg),
            LengthRegulatorConfig.from_model_config(cfg),
        )

    def target_length(self, code_count: int, length_scale: float = 1.0) -> Tensor:
        """Mel frames for ``code_count`` codes -> [1] int64.

        The natural length is ``(LongTensor([n]) * 1.72).long()``, a float32 product truncated, exactly as the
        reference computes it; a ``length_scale`` other than 1 rounds ``natural * length_scale`` to whole frames
        (never fewer than one, which the length regulator needs).
        """
        natural = (torch.tensor([code_count]) * self.args.length_factor).long()
        if length_scale == 1.0:
            return natural
        return torch.tensor([max(1, round(int(natural) * length_scale))])

    @torch.inference_mode()
    def forward(
        self,
        latent: Tensor,
        code_embedding: Tensor,
        prompt_condition: Tensor,
        ref_mel: Tensor,
        style: Tensor,
        noise: Tensor,
        settings: flow.FlowSettings = flow.FlowSettings(),
        length_scale: float = 1.0,
    ) -> S2MelOutput:
        """Synthesise the mel frames of one segment.

        latent: [1, T, D] GPT forward output; code_embedding: [1, T, E] ``vq2emb(codes)``;
        prompt_condition: [1, Tp, C]; ref_mel: [1, M, Tp]; style: [1, S];
        noise: [1, M, Tp + Tt] initial flow sample (see :meth:`noise_shape`, with the same ``length_scale``).
        """
        dtype = self.gpt_layer[0].weight.dtype
        gpt_layer_latent = self.gpt_layer(latent.to(dtype)).float()
        content = code_embedding + gpt_layer_latent
        target = self.target_length(content.shape[1], length_scale).to(content.device)
        cond = self.length_regulator(content.to(dtype), target)
        mu = torch.cat([prompt_condition.to(dtype), cond], dim=1)
        if noise.shape[-1] != mu.shape[1]:
            raise ValueError(f"noise has {noise.shape[-1]} frames, the flow needs {mu.shape[1]}")
        whole = flow.sample(self.dit, mu, ref_mel, style, noise, settings)
        return S2MelOutput(
            gpt_layer_latent=gpt_layer_latent,
            content=content,
            target_length=target,
            cond=cond.float(),
            mel=whole[..., ref_mel.shape[-1] :],
        )

    def noise_shape(self, prompt_frames: int, code_count: int, length_scale: float = 1.0) -> tuple[int, int, int]:
        """Shape of the initial flow sample for a prompt of ``prompt_frames`` mel frames and ``code_count``
        codes: [1, M, Tp + Tt]."""
        return (1, self.dit.args.n_mels, prompt_frames + int(self.target_length(code_count, length_scale)))


def load_s2mel(cfg: ModelConfig, device: torch.device | str = "cpu") -> S2Mel:
    """Build on the meta device and load ``s2mel.pth`` strictly (every tensor placed, no tensor missing)."""
    path = cfg.file(cfg.get("s2mel_checkpoint", str))
    model = on_meta(lambda: S2Mel.from_model_config(cfg))
    net = sub_state(read_tensors(path), "net", source=path)
    state = {checkpoint_key(k): v for k, v in fold_weight_norm(net).items()}
    load_strict(model, state, source=path)
    return model.to(device).eval()
