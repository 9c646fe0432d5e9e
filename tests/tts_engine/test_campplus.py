"""CAMPPlus: full-size keys, inference-mode BatchNorm, unbiased statistics pooling, bundle cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tts_engine.conditioning import CAMPPLUS_FILE, load_campplus
from tts_engine.config import ModelConfig, official_config
from tts_engine.conformance import Bundle
from tts_engine.conformance.runner import discover_adapters, run_case
from tts_engine.loading import assert_keys, on_meta
from tts_engine.networks.campplus import CAMPPlus, CampplusConfig, StatsPool

CASES = ["fbank_style_00_en_2s", "fbank_style_01_zh16k_1p5s", "fbank_style_02_emo_1s"]


def test_full_size_keys_match_the_official_checkpoint(bundle_dir: Path) -> None:
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"][CAMPPLUS_FILE]
    model = on_meta(lambda: CAMPPlus(CampplusConfig.from_model_config(official_config())))
    assert_keys(model, listing, source=f"full-size-keys.json [{CAMPPLUS_FILE}]")


def test_config_takes_the_tiny_overrides(model_config: ModelConfig) -> None:
    config = CampplusConfig.from_model_config(model_config)
    assert (config.growth_rate, config.bn_size, config.init_channels) == (8, 2, 32)
    assert (config.feat_dim, config.embedding_size) == (80, 192)


def test_stats_pool_uses_the_unbiased_standard_deviation() -> None:
    x = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]])
    assert torch.allclose(StatsPool()(x), torch.tensor([[3.0, (14.0 / 3.0) ** 0.5]]))


def test_style_of_a_clip_does_not_depend_on_the_batch(model_config: ModelConfig) -> None:
    # Inference-mode BatchNorm uses the stored statistics, so an item's embedding ignores its batch mates.
    model = load_campplus(model_config)
    fbank = torch.randn(2, 120, model.config.feat_dim, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        together = model(fbank)
        alone = model(fbank[:1])
    assert together.shape == (2, model.config.embedding_size)
    assert torch.allclose(together[:1], alone, atol=1e-6)
    assert not torch.allclose(together[0], together[1])


@pytest.mark.parametrize("case_id", CASES)
def test_bundle_cases(bundle: Bundle, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = run_case(bundle, case, discover_adapters())
    assert result.passed, result.detail
