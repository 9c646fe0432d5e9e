"""The voice registry on disk and the conditioning cache (memory + safetensors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tts_engine.errors import InvalidAudio, InvalidRequest
from tts_engine.voices import TensorCache, VoiceRegistry


def write_clip(path: Path, seconds: float, *, amplitude: float = 0.3, rate: int = 22050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, amplitude * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2, rate)
    return path


def write_garbage(path: Path) -> Path:
    path.write_bytes(b"garbage")
    return path


@pytest.fixture
def registry(tmp_path: Path) -> VoiceRegistry:
    return VoiceRegistry(tmp_path / "voices")


def test_add_get_list_remove(registry: VoiceRegistry, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "alice.wav", 3.0)
    voice = registry.add("alice", clip, language="zh", glossary={"蚌埠": "beng4 bu4"})
    assert voice.name == "alice" and voice.language == "zh" and voice.seconds == pytest.approx(3.0)
    assert voice.clip.parent == registry.root / "alice" and voice.clip.read_bytes() == clip.read_bytes()
    assert registry.get("alice").glossary == {"蚌埠": "beng4 bu4"}
    # a second registry on the same folder sees it (it lives on disk)
    assert [v.name for v in VoiceRegistry(registry.root).list()] == ["alice"]
    registry.remove("alice")
    assert registry.list() == []


def test_existing_names_need_replace(registry: VoiceRegistry, tmp_path: Path) -> None:
    registry.add("bob", write_clip(tmp_path / "a.wav", 2.0))
    with pytest.raises(InvalidRequest, match="already exists"):
        registry.add("bob", write_clip(tmp_path / "b.wav", 2.5))
    assert registry.add("bob", tmp_path / "b.wav", replace=True).seconds == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [
        (lambda p: write_garbage(p), InvalidAudio, "cannot be read"),
        (lambda p: write_clip(p, 0.4), InvalidAudio, "at least"),
        (lambda p: write_clip(p, 31.0, rate=8000), InvalidAudio, "limit"),
        (lambda p: write_clip(p, 2.0, amplitude=0.0), InvalidAudio, "silent"),
    ],
)
def test_bad_clips_are_refused(registry: VoiceRegistry, tmp_path: Path, make, error, reason) -> None:
    with pytest.raises(error, match=reason):
        registry.add("carol", make(tmp_path / "clip.wav"))
    assert registry.list() == []


@pytest.mark.parametrize("name", ["Alice", "a b", "../etc", "", "x" * 65])
def test_bad_names(registry: VoiceRegistry, tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidRequest, match="voice name"):
        registry.add(name, write_clip(tmp_path / "clip.wav", 2.0))


def test_resolve(registry: VoiceRegistry, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.wav", 2.0)
    named = registry.add("dave", clip)
    assert registry.resolve("dave") == named
    by_path = registry.resolve(clip)
    by_bytes = registry.resolve(clip.read_bytes())
    assert by_path.sha256 == by_bytes.sha256 == named.sha256  # one identity per audio content
    assert by_bytes.clip.is_file() and by_bytes.name is None
    assert registry.resolve(None) is None
    registry.add("default", clip)
    assert registry.resolve(None).name == "default"
    with pytest.raises(InvalidRequest, match="unknown voice"):
        registry.resolve("nobody")
    with pytest.raises(InvalidAudio):
        registry.resolve(b"not audio at all")


def test_tensor_cache_memory_then_disk(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"style": torch.arange(6.0).reshape(1, 6), "codes": torch.tensor([[1, 2, 3]])}

    cache = TensorCache(tmp_path / "cache", capacity=1)
    first = cache.get_or_compute("model-abc-clip", compute)
    second = cache.get_or_compute("model-abc-clip", compute)
    assert len(calls) == 1 and torch.equal(first["style"], second["style"])
    assert (cache.stats.misses, cache.stats.memory_hits) == (1, 1)
    fresh = TensorCache(tmp_path / "cache")  # a new process: read back from safetensors
    again = fresh.get_or_compute("model-abc-clip", compute)
    assert len(calls) == 1 and fresh.stats.disk_hits == 1 and torch.equal(again["codes"], first["codes"])
    cache.get_or_compute("other", compute)  # capacity 1 evicts the first key from memory only
    cache.get_or_compute("model-abc-clip", compute)
    assert cache.stats.disk_hits == 1 and len(calls) == 2
    with pytest.raises(ValueError):
        cache.get("../escape")
