"""bench/model_folder.py: random-weight model folders in the official layout, read by the engine's own loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sentencepiece import SentencePieceProcessor

from bench.model_folder import LAYOUTS, file_names, networks, official_state, train_bpe, write_random_model
from tts_engine.api import SynthesisRequest
from tts_engine.config import official_config
from tts_engine.engine import Engine
from tts_engine.loading import expected_shapes, on_meta, read_tensors
from tts_engine.voices import TensorCache, VoiceRegistry

CODES = 12


@pytest.fixture(scope="module")
def tiny_folder(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder written at the bundle's tiny configuration, every segment stopping after CODES codes."""
    return write_random_model(
        tmp_path_factory.mktemp("model"), seed=3, source=bundle_dir / "model", codes_per_segment=CODES
    )


def test_tiny_folder_has_the_bundles_files_keys_and_shapes(tiny_folder: Path, bundle_dir: Path) -> None:
    """Same files, containers (flattened as the loaders flatten them), keys and shapes as the official layout."""
    bundle = bundle_dir / "model"
    listed = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    written = sorted(str(p.relative_to(tiny_folder)) for p in tiny_folder.rglob("*") if p.is_file())
    assert written == [name for name in listed if name not in ("MANIFEST.json", "full-size-keys.json")]
    for name in written:
        if Path(name).suffix in (".pth", ".pt", ".bin", ".safetensors"):
            ours = {key: tuple(t.shape) for key, t in read_tensors(tiny_folder / name).items()}
            theirs = {key: tuple(t.shape) for key, t in read_tensors(bundle / name).items()}
            assert ours == theirs, name


def test_tiny_folder_loads_strictly_and_speaks(tiny_folder: Path, tmp_path: Path) -> None:
    """The engine's loader (strict: any missing, unexpected or misshapen key fails) and a whole synthesis."""
    engine = Engine(voices=VoiceRegistry(tmp_path / "voices"), model_dir=tiny_folder, cache=TensorCache(None))
    audio = engine.synthesize(SynthesisRequest(text="INC-4217 is open.", seed=1))
    assert not audio.fallback, audio.fallback_reason
    assert engine.status().model == "ready"
    # the segment stopped after exactly CODES codes: int(codes * 1.72) mel frames of 256 samples
    assert len(audio.samples) == int(CODES * 1.72) * 256


def test_full_size_layout_equals_the_official_key_listing(bundle_dir: Path) -> None:
    """Every full-size checkpoint as written (built on the meta device: shapes only) against full-size-keys.json."""
    listing = json.loads((bundle_dir / "model" / "full-size-keys.json").read_text())["files"]
    cfg = official_config()
    names = file_names(cfg)
    for name, module in networks(cfg, on_meta):
        state = official_state(module.state_dict(), LAYOUTS[name])
        assert {key: tuple(t.shape) for key, t in state.items()} == expected_shapes(listing[names[name]]), name
    assert set(listing) == {*names.values(), "wav2vec2bert_stats.pt", "feat1.pt", "feat2.pt"}


def test_trained_tokenizer_has_the_official_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "bpe.model"
    train_bpe(path, official_config().get("gpt.number_text_tokens", int))
    model = SentencePieceProcessor(model_file=str(path))
    assert model.vocab_size() == 12000
    assert [model.id_to_piece(i) for i in range(3)] == ["<s>", "</s>", "<unk>"]
    for text in ("你 好 , 这 里 是 值 班 提 醒 .", "PLEASE ACKNOWLEDGE WITHIN FIVE MINUTES.", "BENG4 BU4"):
        assert model.unk_id() not in model.encode(text), text
