"""The s2mel length regulator: full-size keys, the nearest-neighbour rule, masking, config checks, bundle cases."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
import torch

from tts_engine.conditioning import load_length_regulator
from tts_engine.config import ModelConfig, official_config
from tts_engine.conformance import Bundle
from tts_engine.conformance.runner import discover_adapters, run_case
from tts_engine.errors import ModelFolderError
from tts_engine.loading import assert_keys, expected_shapes, on_meta
from tts_engine.networks.length_regulator import LengthRegulator, LengthRegulatorConfig

CASES = ["length_regulator_00_prompt", "length_regulator_01_target", "length_regulator_02_shrink"]


def test_full_size_keys_match_the_official_checkpoint(bundle_dir: Path) -> None:
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"]["s2mel.pth"]
    model = on_meta(lambda: LengthRegulator(LengthRegulatorConfig.from_model_config(official_config())))
    assert_keys(model, expected_shapes(listing, "net.length_regulator"), source="full-size-keys.json [s2mel.pth]")


def test_config_reads_the_s2mel_section(model_config: ModelConfig) -> None:
    config = LengthRegulatorConfig.from_model_config(model_config)
    assert (config.in_channels, config.channels, config.num_blocks, config.codebook_size) == (64, 32, 4, 64)


def _with_regulator_option(cfg: ModelConfig, **changes: object) -> ModelConfig:
    s2mel = dict(cfg.raw["s2mel"])
    s2mel["length_regulator"] = MappingProxyType({**s2mel["length_regulator"], **changes})
    return replace(cfg, raw=MappingProxyType({**cfg.raw, "s2mel": MappingProxyType(s2mel)}))


@pytest.mark.parametrize(
    "option", [{"is_discrete": True}, {"f0_condition": True}, {"n_codebooks": 2}, {"sampling_ratios": ()}]
)
def test_config_refuses_variants_it_does_not_implement(model_config: ModelConfig, option: dict) -> None:
    with pytest.raises(ModelFolderError, match=r"s2mel\.length_regulator"):
        LengthRegulatorConfig.from_model_config(_with_regulator_option(model_config, **option))


def test_nearest_neighbour_picks_the_float32_index(model_config: ModelConfig) -> None:
    # With an identity projection and a pass-through conv stack the output exposes which input frame each output
    # frame copied. T=112 → 192 frames is a pair where exact rational indices pick other frames (README §5).
    config = LengthRegulatorConfig(in_channels=1, channels=1, num_blocks=0, codebook_size=1)
    regulator = LengthRegulator(config)
    with torch.no_grad():
        regulator.content_in_proj.weight.fill_(1.0)
        regulator.content_in_proj.bias.zero_()
        regulator.model[0].weight.fill_(1.0)
        regulator.model[0].bias.zero_()
    frames, target = 112, 192
    out = regulator(torch.arange(frames, dtype=torch.float32)[None, :, None], torch.tensor([target]))
    scale = torch.tensor(frames, dtype=torch.float32) / torch.tensor(target, dtype=torch.float32)
    expected = torch.clamp((torch.arange(target, dtype=torch.float32) * scale).floor(), max=frames - 1)
    assert torch.equal(out[0, :, 0], expected)
    exact = torch.tensor([i * frames // target for i in range(target)], dtype=torch.float32)
    assert not torch.equal(expected, exact)


def test_frames_beyond_each_length_are_zero(model_config: ModelConfig) -> None:
    regulator = load_length_regulator(model_config)
    content = torch.randn(2, 20, regulator.config.in_channels, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = regulator(content, torch.tensor([30, 17]))
    assert out.shape == (2, 30, regulator.config.channels)
    assert torch.all(out[1, 17:] == 0)
    assert torch.all(out[0].abs().sum(-1) > 0)


@pytest.mark.parametrize("case_id", CASES)
def test_bundle_cases(bundle: Bundle, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = run_case(bundle, case, discover_adapters())
    assert result.passed, result.detail
