"""The w2v-BERT adapter: full-size keys, early exit equal to the whole model's hidden state, bundle cases."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

from tts_engine.config import ModelConfig
from tts_engine.conformance import Bundle
from tts_engine.conformance.runner import discover_adapters, run_case
from tts_engine.errors import ModelFolderError
from tts_engine.loading import assert_keys
from tts_engine.networks.w2v_bert import W2vBert, W2vBertConfig, build_model

CASES = ["semantic_features_00_en", "semantic_features_01_zh16k_odd", "semantic_features_02_emo"]
WEIGHTS = "hf_cache/w2v-bert-2.0/model.safetensors"


def test_full_size_keys_match_the_official_checkpoint(bundle_dir: Path) -> None:
    # Wav2Vec2BertConfig's defaults are the facebook/w2v-bert-2.0 architecture (full-size-keys.json notes).
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"][WEIGHTS]
    assert_keys(build_model(Wav2Vec2BertConfig()), listing, source=f"full-size-keys.json [{WEIGHTS}]")


@pytest.mark.parametrize("layer", [17, 9])
def test_early_exit_equals_the_whole_models_hidden_state(bundle: Bundle, model_config: ModelConfig, layer: int) -> None:
    config = replace(W2vBertConfig.from_model_config(model_config), hidden_layer=layer)
    adapter = W2vBert.load(config)
    assert len(adapter.model.encoder.layers) == layer
    whole = Wav2Vec2BertModel.from_pretrained(config.folder, local_files_only=True).eval()
    audio = next(c for c in bundle.cases if c.id == "semantic_features_01_zh16k_odd").input("audio16k")
    with torch.inference_mode():
        features, mask = adapter.features(audio)
        ours = adapter(features, mask)
        theirs = whole(features, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
    assert torch.equal(ours, theirs)


def test_a_layer_beyond_the_model_is_refused(model_config: ModelConfig) -> None:
    config = replace(W2vBertConfig.from_model_config(model_config), hidden_layer=18)
    with pytest.raises(ModelFolderError, match="hidden state 18"):
        W2vBert.load(config)


def test_missing_statistics_are_reported(model_config: ModelConfig, tmp_path: Path) -> None:
    stats = tmp_path / "stats.pt"
    torch.save({"mean": torch.zeros(3)}, stats)
    config = replace(W2vBertConfig.from_model_config(model_config), stats_file=stats)
    with pytest.raises(ModelFolderError, match=r"stats\.pt: mean"):
        W2vBert.load(config)


def test_features_take_a_batch_of_clips(model_config: ModelConfig) -> None:
    adapter = W2vBert.load(W2vBertConfig.from_model_config(model_config))
    with pytest.raises(ValueError, match=r"clips \[B, N\]"):
        adapter.features(torch.zeros(16000))


@pytest.mark.parametrize("case_id", CASES)
def test_bundle_cases(bundle: Bundle, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = run_case(bundle, case, discover_adapters())
    assert result.passed, result.detail
