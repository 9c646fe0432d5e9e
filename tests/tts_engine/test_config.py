"""The configuration: tiny overrides, the released full-size values, and clear errors for a bad config.yaml."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tts_engine.config import (
    CONFIG_FILE,
    CampplusDims,
    MelConfig,
    ModelConfig,
    ReferenceConstants,
    load_config,
    official_config,
)
from tts_engine.errors import ModelFolderError


@pytest.fixture
def folder(tmp_path: Path, bundle_dir: Path) -> Path:
    """A writable copy of the bundle's config.yaml alone (enough for load_config)."""
    shutil.copy(bundle_dir / "model" / CONFIG_FILE, tmp_path / CONFIG_FILE)
    return tmp_path


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_tiny_overrides_replace_the_reference_constants(model_config: ModelConfig) -> None:
    assert model_config.constants == ReferenceConstants(
        semantic_dim=64,
        emo_latent_dim=48,
        gpt_layer_dims=(64, 256, 128, 64),
        campplus=CampplusDims(feat_dim=80, embedding_size=192, growth_rate=8, bn_size=2, init_channels=32),
        w2v_hidden_layer=17,
    )
    assert "tiny_overrides" not in model_config.raw


def test_defaults_are_the_released_models_hard_coded_values() -> None:
    constants = official_config().constants
    assert constants.semantic_dim == 1024
    assert constants.emo_latent_dim == 1024
    assert constants.gpt_layer_dims == (1280, 256, 128, 1024)
    assert constants.campplus == CampplusDims(80, 192, 32, 4, 128)
    assert constants.w2v_hidden_layer == 17


def test_sections_and_files(model_config: ModelConfig, bundle_dir: Path) -> None:
    assert model_config.get("gpt.model_dim", int) == 64
    assert model_config.raw["gpt"]["condition_module"]["num_blocks"] == 2
    assert model_config.emo_num == (3, 17, 2, 8, 4, 5, 10, 24)
    assert model_config.bpe_model == bundle_dir / "model" / "bpe.model"
    assert model_config.file(model_config.raw["gpt_checkpoint"]).is_file()


def test_raw_config_is_read_only(model_config: ModelConfig) -> None:
    with pytest.raises(TypeError):
        model_config.raw["gpt"]["model_dim"] = 1  # type: ignore[index]
    assert isinstance(model_config.raw["emo_num"], tuple)


def test_mel_settings_follow_the_reference_fmax_rule(model_config: ModelConfig, folder: Path) -> None:
    assert model_config.mel == MelConfig(22050, 1024, 80, 256, 1024, 0.0, None)
    _edit(folder, 'fmax: "None"', "fmax: 11025")
    assert load_config(folder).mel.fmax == 8000.0  # any value other than "None" means 8 kHz


def test_official_config_matches_the_full_size_checkpoint_shapes(bundle_dir: Path) -> None:
    """The stored released config.yaml must describe the checkpoints of full-size-keys.json."""
    files = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"]
    gpt = {k: tuple(v["shape"]) for k, v in files["gpt.pth"].items()}
    s2mel = {k: tuple(v["shape"]) for k, v in files["s2mel.pth"].items()}
    codec = {k: tuple(v["shape"]) for k, v in files["hf_cache/semantic_codec_model.safetensors"].items()}
    cfg = official_config()
    g = cfg.raw["gpt"]

    def count(keys: dict, prefix: str) -> int:
        return len({m.group(1) for k in keys if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))})

    assert gpt["text_embedding.weight"] == (g["number_text_tokens"] + 1, g["model_dim"])
    assert gpt["mel_embedding.weight"] == (g["number_mel_codes"], g["model_dim"])
    assert gpt["mel_pos_embedding.emb.weight"][0] == g["max_mel_tokens"] + 3
    assert gpt["text_pos_embedding.emb.weight"][0] == g["max_text_tokens"] + 2
    assert count(gpt, "gpt.h.") == g["layers"]
    assert gpt["emovec_layer.weight"] == (g["model_dim"], cfg.constants.emo_latent_dim)
    for encoder, section in (
        ("conditioning_encoder", "condition_module"),
        ("emo_conditioning_encoder", "emo_condition_module"),
    ):
        module = g[section]
        assert count(gpt, f"{encoder}.encoders.") == module["num_blocks"]
        assert gpt[f"{encoder}.encoders.0.feed_forward.w_1.weight"] == (module["linear_units"], module["output_size"])
    c = cfg.raw["semantic_codec"]
    assert codec["encoder.0.embed.weight"] == (c["vocos_dim"], c["hidden_size"], 7)
    assert count(codec, "encoder.0.convnext.") == c["vocos_num_layers"]
    assert codec["quantizer.quantizers.0.codebook.weight"] == (c["codebook_size"], c["codebook_dim"])
    s = cfg.raw["s2mel"]
    assert count(s2mel, "net.cfm.estimator.transformer.layers.") == s["DiT"]["depth"]
    assert s2mel["net.cfm.estimator.x_embedder.weight_v"] == (s["DiT"]["hidden_dim"], s["DiT"]["in_channels"])
    assert count(s2mel, "net.cfm.estimator.wavenet.in_layers.") == s["wavenet"]["num_layers"]
    assert s2mel["net.length_regulator.content_in_proj.weight"] == (
        s["length_regulator"]["channels"],
        s["length_regulator"]["in_channels"],
    )
    assert s2mel["net.length_regulator.embedding.weight"][0] == s["length_regulator"]["content_codebook_size"]
    assert [s2mel[f"net.gpt_layer.{i}.weight"] for i in range(3)] == [
        (cfg.constants.gpt_layer_dims[i + 1], cfg.constants.gpt_layer_dims[i]) for i in range(3)
    ]


def test_missing_config_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"config\.yaml: missing") as info:
        load_config(tmp_path)
    assert info.value.file == str(tmp_path / CONFIG_FILE)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="not a directory"):
        load_config(tmp_path / "nowhere")


def test_invalid_yaml(folder: Path) -> None:
    (folder / CONFIG_FILE).write_text("gpt: [unclosed\n", encoding="utf-8")
    with pytest.raises(ModelFolderError, match="not valid YAML"):
        load_config(folder)


def test_another_version_is_refused(folder: Path) -> None:
    _edit(folder, "version: 2.0", "version: 1.5")
    with pytest.raises(ModelFolderError, match="version") as info:
        load_config(folder)
    assert info.value.key == "version"


def test_missing_key_is_named(folder: Path) -> None:
    _edit(folder, "    model_dim: 64\n", "")
    with pytest.raises(ModelFolderError) as info:
        load_config(folder)
    assert info.value.key == "gpt.model_dim"
    assert "config.yaml: gpt.model_dim: missing" in str(info.value)


def test_wrong_type_is_named(folder: Path) -> None:
    _edit(folder, "    layers: 2\n", "    layers: two\n")
    with pytest.raises(ModelFolderError, match=r"gpt\.layers: expected int"):
        load_config(folder)


def test_unknown_override_is_refused(folder: Path) -> None:
    _edit(folder, "    w2v_hidden_layer: 17", "    w2v_hidden_layer: 17\n    hidden_size: 3")
    with pytest.raises(ModelFolderError, match=r"tiny_overrides: unknown constant\(s\) \['hidden_size'\]"):
        load_config(folder)
