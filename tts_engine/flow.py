"""Conditional flow matching sampler of the s2mel stage: fixed-step Euler with classifier-free guidance.

Shape letters: B batch (1), M mel bins, Tp prompt frames, T = Tp + target frames, C content channels,
S style width.

The ODE runs from noise (t = 0) to mel (t = 1) over the *whole* sequence, prompt included: the prompt
region of the sample is held at zero and the reference mel is handed to the estimator separately as
``prompt_x``, so the estimator "in-paints" the frames after the prompt in the prompt voice. With guidance,
each step evaluates the estimator once on a batch of two — conditional ``(x, prompt_x, style, mu)`` and
unconditional ``(x, 0, 0, 0)`` — and extrapolates ``v = (1 + r) v_cond - r v_uncond``. What the estimator
makes of ``(prompt_x, style, mu)``, which no step changes, is computed once (``DiT.condition``).

Numerical details kept from the reference: the time grid is ``linspace(0, 1, steps + 1)`` but the time
fed to the estimator is accumulated in float32 (``t = t + dt``), the step ``dt`` is the difference of
consecutive grid points, and the prompt region is zeroed after every step (so it is zero in the result).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tts_engine.networks.dit import DiT


@dataclass(frozen=True)
class FlowSettings:
    """Sampler settings. The defaults are what ``infer_generator`` uses (25 steps, guidance 0.7)."""

    steps: int = 25
    cfg_rate: float = 0.7


def initial_noise(shape: tuple[int, ...], generator: torch.Generator, *, device: torch.device) -> Tensor:
    """Standard normal starting point drawn from an explicit generator (never the global RNG)."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


@torch.inference_mode()
def sample(
    estimator: DiT,
    mu: Tensor,
    prompt_mel: Tensor,
    style: Tensor,
    noise: Tensor,
    settings: FlowSettings = FlowSettings(),
) -> Tensor:
    """Integrate the flow from ``noise`` and return the whole sample (prompt region zero).

    mu: [1, T, C], prompt_mel: [1, M, Tp], style: [1, S], noise: [1, M, T] -> [1, M, T] float32.
    The estimator runs in its own dtype; the sample itself is always accumulated in float32 (a bfloat16
    sample would lose its low bits at every step).
    """
    dtype = next(estimator.parameters()).dtype
    prompt_len = prompt_mel.shape[-1]
    x = noise.float().clone()
    x[..., :prompt_len] = 0
    prompt_x = torch.zeros_like(x, dtype=dtype)
    prompt_x[..., :prompt_len] = prompt_mel.to(dtype)
    mu, style = mu.to(dtype), style.to(dtype)
    guided = settings.cfg_rate > 0
    if guided:
        prompt_x = torch.cat([prompt_x, torch.zeros_like(prompt_x)])
        style = torch.cat([style, torch.zeros_like(style)])
        mu = torch.cat([mu, torch.zeros_like(mu)])

    condition = estimator.condition(prompt_x, style, mu)  # what does not change from step to step
    t_span = torch.linspace(0, 1, settings.steps + 1, device=x.device)
    t = t_span[0]
    for step in range(1, settings.steps + 1):
        dt = t_span[step] - t_span[step - 1]
        x_in = x.to(dtype)
        if guided:
            both = estimator.velocity(torch.cat([x_in, x_in]), t.expand(2), condition, start=prompt_len).float()
            v_cond, v_uncond = both.chunk(2)
            velocity = (1.0 + settings.cfg_rate) * v_cond - settings.cfg_rate * v_uncond
        else:
            velocity = estimator.velocity(x_in, t.expand(1), condition, start=prompt_len).float()
        # Only the frames after the prompt move; the prompt region stays zero (the reference zeroes it
        # after every step).
        x = torch.cat([x[..., :prompt_len], x[..., prompt_len:] + dt * velocity], dim=-1)
        t = t + dt
    return x
