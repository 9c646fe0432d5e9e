"""Checkpoint loading: safe reads, flattening, weight-norm folding, strict loads and the errors they raise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from tts_engine.config import ModelConfig, load_config
from tts_engine.errors import ModelFolderError
from tts_engine.loading import (
    assert_keys,
    check_model_folder,
    expected_shapes,
    fold_weight_norm,
    load_strict,
    on_meta,
    read_tensor,
    read_tensors,
    sub_state,
)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)


class Payload:
    """An object whose unpickling would create a file: it must never be unpickled from a model folder."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_s2mel_container_is_flattened_like_the_key_listing(model_config: ModelConfig) -> None:
    state = read_tensors(model_config.file("s2mel.pth"))
    assert {key.split(".")[1] for key in state} == {"cfm", "length_regulator", "gpt_layer"}
    assert all(key.startswith("net.") for key in state)  # the ints epoch / iters are dropped
    regulator = sub_state(state, "net.length_regulator", source="s2mel.pth")
    assert "content_in_proj.weight" in regulator
    assert regulator["content_in_proj.weight"].shape[1] == model_config.constants.semantic_dim


def test_single_tensor_and_stats_files(model_config: ModelConfig) -> None:
    feat1 = read_tensor(model_config.file("feat1.pt"))
    assert feat1.shape == (sum(model_config.emo_num), model_config.constants.campplus.embedding_size)
    stats = read_tensors(model_config.file("wav2vec2bert_stats.pt"))
    assert set(stats) == {"mean", "var"}
    with pytest.raises(ModelFolderError, match="expected a single tensor"):
        read_tensor(model_config.file("wav2vec2bert_stats.pt"))


def test_safetensors_are_read(model_config: ModelConfig) -> None:
    state = read_tensors(model_config.file("hf_cache/semantic_codec_model.safetensors"))
    assert "quantizer.quantizers.0.codebook.weight" in state


def test_sub_state_with_an_absent_prefix_names_it() -> None:
    with pytest.raises(ModelFolderError, match=r"s2mel\.pth: net\.cfm: no tensors"):
        sub_state({"net.gpt_layer.0.weight": torch.zeros(1)}, "net.cfm", source="s2mel.pth")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"gpt\.pth: missing") as info:
        read_tensors(tmp_path / "gpt.pth")
    assert info.value.file == str(tmp_path / "gpt.pth")


@pytest.mark.parametrize("name", ["gpt.pth", "model.safetensors"])
def test_corrupt_file_is_named(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(ModelFolderError, match=f"{name}: not a readable"):
        read_tensors(tmp_path / name)


def test_truncated_checkpoint_is_refused(tmp_path: Path, model_config: ModelConfig) -> None:
    data = model_config.file("gpt.pth").read_bytes()
    (tmp_path / "gpt.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match=r"gpt\.pth: not a readable PyTorch checkpoint"):
        read_tensors(tmp_path / "gpt.pth")


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    torch.save({"weight": torch.zeros(2), "evil": Payload(marker)}, tmp_path / "gpt.pth")
    with pytest.raises(ModelFolderError, match="weights_only=True"):
        read_tensors(tmp_path / "gpt.pth")
    assert not marker.exists()


def test_fold_weight_norm_equals_torch_weight_norm() -> None:
    """The oracle is the op behind both of torch's weight-norm APIs (dim 0; a ConvTranspose's g is per input)."""
    generator = torch.Generator().manual_seed(0)
    for v, g_shape in (((6, 5, 3), (6, 1, 1)), ((6, 5, 4), (6, 1, 1)), ((3, 7), (3, 1)), ((4,), (4,))):
        weight_v = torch.randn(v, generator=generator)
        weight_g = torch.rand(g_shape, generator=generator) + 0.5
        folded = fold_weight_norm({"m.weight_g": weight_g, "m.weight_v": weight_v, "m.bias": torch.zeros(1)})
        assert set(folded) == {"m.weight", "m.bias"}
        torch.testing.assert_close(folded["m.weight"], torch._weight_norm(weight_v, weight_g, 0), rtol=1e-6, atol=1e-7)


def test_load_strict_loads_and_copies() -> None:
    module = Tiny()
    state = {k: torch.full_like(v, 0.5) for k, v in Tiny().state_dict().items()}
    load_strict(module, state, source="tiny.pth")
    assert torch.equal(module.proj.weight, torch.full((4, 3), 0.5))
    assert torch.equal(module.norm.running_var, torch.full((4,), 0.5))


def test_load_strict_on_meta_assigns_the_file_tensors() -> None:
    module = on_meta(Tiny)
    assert module.proj.weight.is_meta
    state = {k: torch.ones(v.shape, dtype=v.dtype) for k, v in module.state_dict().items()}
    load_strict(module, state, source="tiny.pth")
    assert not module.proj.weight.is_meta
    assert isinstance(module.proj.weight, nn.Parameter)
    assert torch.equal(module.proj.bias, torch.ones(4))


def test_load_strict_reports_every_difference_with_the_file() -> None:
    state = dict(Tiny().state_dict())
    del state["norm.running_mean"]
    state["extra.weight"] = torch.zeros(1)
    state["proj.weight"] = torch.zeros(4, 5)
    with pytest.raises(ModelFolderError) as info:
        load_strict(Tiny(), state, source="gpt.pth")
    message = str(info.value)
    assert message.startswith("gpt.pth: ")
    assert "missing keys [norm.running_mean]" in message
    assert "unexpected keys [extra.weight]" in message
    assert "proj.weight: file [4, 5] vs model [4, 3]" in message
    assert info.value.file == "gpt.pth"
    assert info.value.key == "norm.running_mean"


def test_assert_keys_folds_weight_norm_pairs_of_the_listing() -> None:
    module = on_meta(lambda: nn.Conv1d(5, 6, 3))
    listing = {
        "weight_g": {"shape": [6, 1, 1], "dtype": "float32"},
        "weight_v": {"shape": [6, 5, 3], "dtype": "float32"},
        "bias": {"shape": [6], "dtype": "float32"},
    }
    assert_keys(module, listing, source="bigvgan_generator.pt")
    with pytest.raises(ModelFolderError, match="unexpected keys"):
        assert_keys(module, listing, source="bigvgan_generator.pt", weight_norm=False)
    with pytest.raises(ModelFolderError, match=r"bias: file \[7\] vs model \[6\]"):
        assert_keys(module, {**listing, "bias": [7]}, source="bigvgan_generator.pt")


def test_expected_shapes_takes_one_module_of_a_container(bundle_dir: Path) -> None:
    files = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"]
    shapes = expected_shapes(files["s2mel.pth"], "net.gpt_layer")
    assert shapes == {
        "0.weight": (256, 1280),
        "0.bias": (256,),
        "1.weight": (128, 256),
        "1.bias": (128,),
        "2.weight": (1024, 128),
        "2.bias": (1024,),
    }


def test_safetensors_roundtrip_through_read_tensors(tmp_path: Path) -> None:
    save_file({"a.b": torch.arange(3.0)}, tmp_path / "x.safetensors")
    assert torch.equal(read_tensors(tmp_path / "x.safetensors")["a.b"], torch.arange(3.0))


def test_complete_folder_passes_the_file_check(model_config: ModelConfig) -> None:
    check_model_folder(model_config)


def test_incomplete_folder_lists_every_missing_file(tmp_path: Path, bundle_dir: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(bundle_dir / "model", folder)
    (folder / "s2mel.pth").unlink()
    shutil.rmtree(folder / "hf_cache" / "bigvgan")
    with pytest.raises(ModelFolderError) as info:
        check_model_folder(load_config(folder))
    message = str(info.value)
    assert message.startswith(f"{folder}: s2mel.pth: incomplete model folder")
    assert "hf_cache/bigvgan/config.json" in message and "hf_cache/bigvgan/bigvgan_generator.pt" in message
