"""The DiT's WaveNet head: reflection-padded gated convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tts_engine.config import ModelConfig
from tts_engine.networks.wavenet import ReflectConv1d, WaveNet, WaveNetArgs


def test_args_from_bundle_config(model_config: ModelConfig) -> None:
    assert WaveNetArgs.from_model_config(model_config) == WaveNetArgs(
        hidden_dim=64, num_layers=2, kernel_size=5, dilation_rate=1
    )


def test_reflect_conv_pads_by_reflection() -> None:
    torch.manual_seed(0)
    conv = ReflectConv1d(3, 4, 5, dilation=2)
    x = torch.randn(1, 3, 11)
    expected = F.conv1d(F.pad(x, (4, 4), mode="reflect"), conv.weight, conv.bias, dilation=2)
    assert torch.allclose(conv(x), expected)
    zero_padded = F.conv1d(x, conv.weight, conv.bias, dilation=2, padding=4)
    assert not torch.allclose(conv(x), zero_padded)


def test_closed_gates_leave_the_skip_biases() -> None:
    """With zero pre-activations every gate is tanh(0)·σ(0) = 0, so the output is the sum of the skip biases:
    the second half of each res_skip bias, and all of the last layer's."""
    args = WaveNetArgs(hidden_dim=4, num_layers=3, kernel_size=3, dilation_rate=2)
    net = WaveNet(args)
    with torch.no_grad():
        for layer in [*net.in_layers, net.cond_layer]:
            layer.weight.zero_()
            layer.bias.zero_()
    out = net(torch.randn(2, 4, 9), torch.randn(2, 4, 1))
    skip_bias = sum(layer.bias[4:] for layer in net.res_skip_layers[:-1]) + net.res_skip_layers[-1].bias
    assert torch.allclose(out, skip_bias[None, :, None].expand(2, 4, 9))
    assert [layer.out_channels for layer in net.res_skip_layers] == [8, 8, 4]
    assert [layer.dilation[0] for layer in net.in_layers] == [1, 2, 4]
