"""Euler flow sampling with classifier-free guidance, checked with stand-in estimators."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tts_engine.flow import FlowSettings, initial_noise, sample

M, TP, T, C, S = 3, 2, 6, 4, 5


class Recorder(nn.Module):
    """A fake velocity field: 1 for conditional rows (non-zero style), -1 for unconditional ones. It records the
    conditioning inputs (`condition`) and each step's sample and time (`velocity`)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.conditions: list[tuple[Tensor, ...]] = []
        self.calls: list[tuple[Tensor, ...]] = []

    def condition(self, prompt_x: Tensor, style: Tensor, mu: Tensor) -> Tensor:
        self.conditions.append((prompt_x.clone(), style.clone(), mu.clone()))
        return (style.abs().sum(-1) > 0).float() * 2 - 1

    def velocity(self, x: Tensor, t: Tensor, condition: Tensor, start: int) -> Tensor:
        self.calls.append((x.clone(), t.clone()))
        assert start == TP  # only the frames after the prompt are asked for
        return self.scale * condition[:, None, None].expand_as(x[..., start:])


def _run(settings: FlowSettings) -> tuple[Tensor, Recorder, Tensor]:
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, M, T, generator=g)
    prompt = torch.randn(1, M, TP, generator=g)
    est = Recorder()
    out = sample(
        est, torch.randn(1, T, C, generator=g) + 3, prompt, torch.randn(1, S, generator=g) + 3, noise, settings
    )
    return out, est, noise


def test_guided_steps_batch_conditional_and_null_inputs() -> None:
    out, est, noise = _run(FlowSettings(steps=4, cfg_rate=0.7))
    assert len(est.calls) == 4
    assert len(est.conditions) == 1  # the inputs that stay put are conditioned on once, not at every step
    x, _ = est.calls[0]
    prompt_x, style, mu = est.conditions[0]
    assert x.shape == (2, M, T) and torch.equal(x[0], x[1])
    assert torch.equal(x[0, :, :TP], torch.zeros(M, TP))  # prompt region of the sample held at zero
    assert torch.equal(x[0, :, TP:], noise[0, :, TP:])
    assert torch.equal(prompt_x[0, :, TP:], torch.zeros(M, T - TP)) and prompt_x[0, :, :TP].abs().sum() > 0
    for null in (prompt_x[1], style[1], mu[1]):
        assert torch.equal(null, torch.zeros_like(null))
    # v = 1.7 * 1 - 0.7 * (-1) = 2.4 per unit time, integrated over [0, 1].
    assert torch.allclose(out[..., TP:], noise[..., TP:] + 2.4, atol=1e-5)
    assert torch.equal(out[..., :TP], torch.zeros(1, M, TP))


def test_time_is_accumulated_from_zero() -> None:
    _, est, _ = _run(FlowSettings(steps=25, cfg_rate=0.7))
    times = [float(call[1][0]) for call in est.calls]
    expected, t = [], torch.tensor(0.0)
    grid = torch.linspace(0, 1, 26)
    for step in range(1, 26):
        expected.append(float(t))
        t = t + (grid[step] - grid[step - 1])
    assert times == expected


def test_no_guidance_is_one_conditional_pass_per_step() -> None:
    out, est, noise = _run(FlowSettings(steps=3, cfg_rate=0.0))
    assert len(est.calls) == 3 and all(call[0].shape[0] == 1 for call in est.calls)
    assert torch.allclose(out[..., TP:], noise[..., TP:] + 1.0, atol=1e-5)


def test_initial_noise_is_reproducible_from_the_generator() -> None:
    a = initial_noise((1, M, T), torch.Generator().manual_seed(5), device=torch.device("cpu"))
    b = initial_noise((1, M, T), torch.Generator().manual_seed(5), device=torch.device("cpu"))
    c = initial_noise((1, M, T), torch.Generator().manual_seed(6), device=torch.device("cpu"))
    assert torch.equal(a, b) and not torch.equal(a, c)
