"""Voices on disk, and the cache that makes a voice's conditioning a one-time cost.

A voice is a name, a reference clip, a language and a pronunciation glossary. The registry keeps each under
``<root>/<name>/`` (``voice.json`` + ``clip.<ext>``), so voices survive restarts and can be copied between hosts.
A clip is identified by the SHA-256 of its bytes: ad-hoc clips (a file path or uploaded bytes) get the same
identity as a registered voice with the same audio, and so share its cached conditioning.

:class:`TensorCache` is generic (key → dict of tensors), in memory (LRU) and on disk as safetensors, so the
w2v-BERT / semantic codec / CAMPPlus work for a voice runs once per model, not once per request or per process.
Nothing here imports torch at module level: the registry serves the fallback voice too.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import soundfile

from tts_engine.errors import InvalidAudio, InvalidRequest

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["MAX_CLIP_SECONDS", "MIN_CLIP_SECONDS", "TensorCache", "Voice", "VoiceRegistry", "check_clip"]

MIN_CLIP_SECONDS = 1.0
MAX_CLIP_SECONDS = 30.0  # the model uses the first 15 s; longer uploads are a mistake, not a voice
MAX_CLIP_BYTES = 20 * 1024 * 1024
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Voice:
    """A reference clip with its language and glossary. ``name`` is None for ad-hoc clips."""

    clip: Path
    sha256: str
    name: str | None = None
    language: str | None = None
    glossary: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "seconds": round(self.seconds, 2),
            "sha256": self.sha256,
            "glossary": dict(self.glossary),
        }


def check_clip(path: Path) -> float:
    """Refuse clips that cannot serve as a reference; return the clip's length in seconds."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise InvalidAudio(f"reference audio cannot be read: {exc}") from None
    seconds = info.frames / info.samplerate if info.samplerate else 0.0
    if seconds < MIN_CLIP_SECONDS:
        raise InvalidAudio(f"reference audio is {seconds:.2f} s; at least {MIN_CLIP_SECONDS:g} s of speech is needed")
    if seconds > MAX_CLIP_SECONDS:
        raise InvalidAudio(f"reference audio is {seconds:.1f} s; the limit is {MAX_CLIP_SECONDS:g} s (15 s are used)")
    samples, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    if float(abs(samples).max(initial=0.0)) < 1e-3:
        raise InvalidAudio("reference audio is silent")
    return seconds


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class VoiceRegistry:
    """Named voices under ``root``; clips given as bytes are kept content-addressed under ``root/.clips``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        clip: Path,
        *,
        language: str | None = None,
        glossary: Mapping[str, str] | None = None,
        replace: bool = False,
    ) -> Voice:
        """Register ``clip`` (copied in) as ``name``; InvalidRequest for a bad name or an existing one."""
        if not _NAME.match(name):
            raise InvalidRequest(f"voice name {name!r}: use 1-64 lowercase letters, digits, '-' or '_'")
        if language not in (None, "zh", "en"):
            raise InvalidRequest(f"voice language must be 'zh' or 'en', got {language!r}")
        clip = Path(clip)
        if not clip.is_file():
            raise InvalidAudio(f"reference audio {clip} does not exist")
        seconds = check_clip(clip)
        folder = self.root / name
        with self._lock:
            if folder.exists() and not replace:
                raise InvalidRequest(f"voice {name!r} already exists")
            staging = self.root / f".{name}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            target = staging / f"clip{clip.suffix.lower() or '.wav'}"
            shutil.copyfile(clip, target)
            meta = {
                "name": name,
                "clip": target.name,
                "sha256": _sha256(target.read_bytes()),
                "language": language,
                "glossary": dict(glossary or {}),
                "seconds": seconds,
            }
            (staging / "voice.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        return self.get(name)

    def get(self, name: str) -> Voice:
        """The registered voice ``name``; InvalidRequest (unknown voice) otherwise."""
        meta_file = self.root / name / "voice.json"
        if not _NAME.match(name) or not meta_file.is_file():
            known = ", ".join(v.name or "" for v in self.list()) or "none registered"
            raise InvalidRequest(f"unknown voice {name!r} (known: {known})")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        return Voice(
            clip=meta_file.parent / meta["clip"],
            sha256=meta["sha256"],
            name=meta["name"],
            language=meta.get("language"),
            glossary=meta.get("glossary") or {},
            seconds=float(meta.get("seconds", 0.0)),
        )

    def list(self) -> list[Voice]:
        if not self.root.is_dir():
            return []
        return [self.get(p.name) for p in sorted(self.root.iterdir()) if (p / "voice.json").is_file()]

    def remove(self, name: str) -> None:
        self.get(name)
        shutil.rmtree(self.root / name)

    def resolve(self, voice: str | Path | bytes | None) -> Voice | None:
        """A request's voice: a registered name, a clip file, or clip bytes (stored by content hash)."""
        if voice is None:
            return self.get("default") if (self.root / "default" / "voice.json").is_file() else None
        if isinstance(voice, bytes):
            return self._store_bytes(voice)
        if isinstance(voice, str) and _NAME.match(voice):
            return self.get(voice)
        path = Path(voice)
        if not path.is_file():
            raise InvalidRequest(f"voice {str(voice)!r} is neither a registered voice nor an audio file")
        seconds = check_clip(path)
        return Voice(clip=path, sha256=_sha256(path.read_bytes()), seconds=seconds)

    def _store_bytes(self, data: bytes) -> Voice:
        if len(data) > MAX_CLIP_BYTES:
            raise InvalidAudio(f"reference audio is {len(data)} bytes; the limit is {MAX_CLIP_BYTES}")
        digest = _sha256(data)
        path = self.root / ".clips" / f"{digest}.audio"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(data)
            try:
                check_clip(partial)
            except InvalidAudio:
                partial.unlink()
                raise
            partial.rename(path)
        return Voice(clip=path, sha256=digest, seconds=check_clip(path))


@dataclass
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


class TensorCache:
    """key → dict of tensors: an in-memory LRU in front of safetensors files under ``directory`` (optional).

    Keys must be file-name safe; callers build them from content hashes (clip SHA-256, model fingerprint).
    """

    def __init__(self, directory: Path | None, *, capacity: int = 32) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.capacity = capacity
        self.stats = CacheStats()
        self._memory: OrderedDict[str, dict[str, Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, Tensor]]) -> dict[str, Tensor]:
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            self.stats.misses += 1
        tensors = compute()
        self.put(key, tensors)
        return tensors

    def get(self, key: str) -> dict[str, Tensor] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                self.stats.memory_hits += 1
                return self._memory[key]
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        with self._lock:
            self.stats.disk_hits += 1
            self._remember(key, tensors)
        return tensors

    def put(self, key: str, tensors: Mapping[str, Tensor]) -> None:
        # Own copies: the entry must not share storage with the caller's tensors, nor its tensors with each other
        # (a voice without an emotion clip uses one emotion vector twice, and safetensors refuses shared storage).
        stored = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
        path = self._path(key)
        if path is not None:
            from safetensors.torch import save_file

            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            save_file(stored, str(partial))
            partial.replace(path)
        with self._lock:
            self._remember(key, stored)

    def _remember(self, key: str, tensors: dict[str, Tensor]) -> None:
        self._memory[key] = tensors
        self._memory.move_to_end(key)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
            raise ValueError(f"cache key {key!r} is not file-name safe")
        return None if self.directory is None else self.directory / f"{key}.safetensors"
