"""The s2mel container: strict loading, full-size keys, the 1.72 length rule, the length scale of duration
control and the bundle's s2mel cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tts_engine.conditioning import load_semantic_codec
from tts_engine.config import ModelConfig, official_config
from tts_engine.conformance import Bundle
from tts_engine.conformance.runner import discover_adapters, run_case
from tts_engine.errors import ModelFolderError
from tts_engine.loading import assert_keys, expected_shapes, on_meta
from tts_engine.s2mel import S2Mel, checkpoint_key, load_s2mel


def test_full_size_keys_match_the_official_checkpoint(bundle_dir: Path) -> None:
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"]["s2mel.pth"]
    expected = {checkpoint_key(k): v for k, v in expected_shapes(listing, "net").items()}
    model = on_meta(lambda: S2Mel.from_model_config(official_config()))
    assert_keys(model, expected, source="full-size-keys.json [s2mel.pth]")


def test_checkpoint_key_mapping() -> None:
    assert checkpoint_key("cfm.estimator.wavenet.in_layers.3.conv.conv.weight_v") == "dit.wavenet.in_layers.3.weight_v"
    assert checkpoint_key("cfm.estimator.transformer.norm.norm.weight") == "dit.transformer.norm.norm.weight"
    assert checkpoint_key("length_regulator.model.0.bias") == "length_regulator.model.0.bias"


@pytest.mark.parametrize(("codes", "frames"), [(24, 41), (35, 60), (20, 34), (200, 344), (1, 1), (50, 86)])
def test_target_length_truncates_the_float32_product(model_config: ModelConfig, codes: int, frames: int) -> None:
    model = on_meta(lambda: S2Mel.from_model_config(model_config))
    assert model.target_length(codes).tolist() == [frames]
    assert model.noise_shape(100, codes) == (1, 80, 100 + frames)


@pytest.mark.parametrize(
    ("codes", "scale", "frames"), [(24, 0.9, 37), (24, 1.5, 62), (35, 2.0, 120), (50, 0.5, 43), (1, 0.5, 1)]
)
def test_a_length_scale_rounds_the_scaled_natural_length(
    model_config: ModelConfig, codes: int, scale: float, frames: int
) -> None:
    model = on_meta(lambda: S2Mel.from_model_config(model_config))
    assert model.target_length(codes, scale).tolist() == [frames]
    assert model.noise_shape(100, codes, scale) == (1, 80, 100 + frames)


def test_a_length_scale_stretches_the_content_to_the_new_target(bundle: Bundle) -> None:
    """Same content (codes and latents), more frames: only the length regulator's target changes."""
    case = next(c for c in bundle.cases if c.id == "s2mel_00_T24")
    model = load_s2mel(bundle.config)
    prompt = case.input("prompt_condition")
    noise = torch.randn(model.noise_shape(prompt.shape[1], 24, 1.5), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():  # as the engine runs it (the shared bundle's inputs may be inference tensors)
        out = model(
            latent=case.input("latent"),
            code_embedding=load_semantic_codec(bundle.config).vq2emb(case.input("codes")),
            prompt_condition=prompt,
            ref_mel=case.input("ref_mel"),
            style=case.input("style"),
            noise=noise,
            length_scale=1.5,
        )
    assert out.target_length.tolist() == [62] and out.cond.shape[1] == 62 and out.mel.shape[-1] == 62
    torch.testing.assert_close(out.content, case.expected("S_infer"), atol=1e-4, rtol=1e-4)
    assert torch.isfinite(out.mel).all()


def test_loading_names_the_file_and_key_on_mismatch(model_config: ModelConfig, tmp_path: Path) -> None:
    state = torch.load(model_config.file("s2mel.pth"), weights_only=True)
    del state["net"]["cfm"]["estimator.conv2.bias"]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.yaml").symlink_to(model_config.file("config.yaml"))
    torch.save(state, folder / "s2mel.pth")
    broken = type(model_config)(model_dir=folder, raw=model_config.raw, constants=model_config.constants)
    with pytest.raises(ModelFolderError, match=r"s2mel\.pth.*dit\.conv2\.bias"):
        load_s2mel(broken)


@pytest.mark.parametrize("case_id", ["s2mel_00_T24", "s2mel_01_T35", "s2mel_02_T20"])
def test_bundle_cases(bundle: Bundle, case_id: str) -> None:
    case = next(c for c in bundle.cases if c.id == case_id)
    result = run_case(bundle, case, discover_adapters())
    assert result.passed, result.detail
