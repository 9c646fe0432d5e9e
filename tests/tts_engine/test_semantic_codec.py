"""The MaskGCT semantic codec: full-size keys, strict loading, quantize/vq2emb consistency, bundle cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tts_engine.conditioning import SEMANTIC_CODEC_FILE, load_semantic_codec
from tts_engine.config import ModelConfig, official_config
from tts_engine.conformance import Bundle
from tts_engine.conformance.runner import discover_adapters, run_case
from tts_engine.errors import ModelFolderError
from tts_engine.loading import assert_keys, on_meta
from tts_engine.networks.semantic_codec import SemanticCodec, SemanticCodecConfig

CASES = [
    "semantic_codec_quantize_00_en",
    "semantic_codec_quantize_01_zh16k_odd",
    "semantic_codec_quantize_02_emo",
    "semantic_codec_vq2emb_00_len37",
    "semantic_codec_vq2emb_01_len90",
]


def test_full_size_keys_match_the_official_checkpoint(bundle_dir: Path) -> None:
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"][SEMANTIC_CODEC_FILE]
    model = on_meta(lambda: SemanticCodec(SemanticCodecConfig.from_model_config(official_config())))
    assert_keys(model, listing, source=f"full-size-keys.json [{SEMANTIC_CODEC_FILE}]", weight_norm=True)


def test_quantize_agrees_with_vq2emb_of_its_codes(model_config: ModelConfig) -> None:
    codec = load_semantic_codec(model_config)
    features = torch.randn(1, 40, codec.config.hidden_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        codes, s = codec.quantize(features)
        again = codec.vq2emb(codes)
    assert codes.shape == (1, 40) and codes.dtype == torch.int64
    assert int(codes.min()) >= 0 and int(codes.max()) < codec.config.codebook_size
    assert torch.equal(s, again)


def test_codes_are_the_most_cosine_similar_entries(model_config: ModelConfig) -> None:
    codec = load_semantic_codec(model_config)
    features = torch.randn(1, 25, codec.config.hidden_size, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        codes, _ = codec.quantize(features)
        latent = codec.encoder(features.transpose(1, 2)).transpose(1, 2)
        projected = codec.vq.in_project(latent).transpose(1, 2)[0]
        cosine = torch.nn.functional.cosine_similarity(projected[:, None, :], codec.vq.codebook.weight[None], dim=-1)
    assert torch.equal(codes[0], cosine.argmax(-1))


def test_a_truncated_file_names_the_missing_key(model_config: ModelConfig, tmp_path: Path) -> None:
    state = load_file(model_config.file(SEMANTIC_CODEC_FILE))
    del state["quantizer.quantizers.0.codebook.weight"]
    (tmp_path / "hf_cache").mkdir()
    save_file(state, tmp_path / SEMANTIC_CODEC_FILE)
    broken = type(model_config)(model_dir=tmp_path, raw=model_config.raw, constants=model_config.constants)
    with pytest.raises(
        ModelFolderError, match=r"semantic_codec_model\.safetensors.*quantizer\.quantizers\.0\.codebook"
    ):
        load_semantic_codec(broken)


@pytest.mark.parametrize("case_id", CASES)
def test_bundle_cases(bundle: Bundle, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = run_case(bundle, case, discover_adapters())
    assert result.passed, result.detail
