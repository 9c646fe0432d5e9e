"""The one public interface of the speech engine: what `bot/` (and anyone else) sees.

A :class:`SynthesisRequest` says what to say (text, a voice, an :class:`Emotion`, a :class:`Duration`, a language
hint and a seed); :func:`synthesize` answers with :class:`Audio`, :func:`stream` yields one :class:`Audio` per
text segment so a caller can start playing before the rest is computed. Requests are checked when they are built,
so a bad one fails with :class:`~tts_engine.errors.InvalidRequest` before any work starts.

This module imports neither torch nor any network: with no model folder configured the engine speaks with the
offline fallback voice (:mod:`tts_engine.fallback`), which needs only NumPy and espeak-ng. Encoders are here
rather than in :mod:`tts_engine.audio` for the same reason (that module is torch's side).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import soundfile

from tts_engine.errors import InvalidAudio, InvalidRequest

if TYPE_CHECKING:
    from tts_engine.engine import Engine

__all__ = [
    "EMOTIONS",
    "EMOTION_PRESETS",
    "MAX_TEXT_CHARS",
    "Audio",
    "Duration",
    "Emotion",
    "SynthesisRequest",
    "stream",
    "synthesize",
]

# The eight emotions of IndexTTS-2, in the order of its emotion vector and of feat1/feat2's row groups.
EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")

# Named emotion mixes for incident speech over EMOTIONS; intensity scales them (emo_alpha). The same table as
# tts_engine.emotion.PRESETS (a test keeps them equal), kept here because this module must not import torch.
# Each sums to at most 0.8 so that some of the speaker clip's own emotion remains.
EMOTION_PRESETS: Mapping[str, tuple[float, ...]] = {
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "calm": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6),
    "urgent": (0.0, 0.25, 0.0, 0.2, 0.0, 0.0, 0.3, 0.0),
    "reassuring": (0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.45),
    "concerned": (0.0, 0.0, 0.3, 0.25, 0.0, 0.15, 0.0, 0.0),
}

MAX_TEXT_CHARS = 2000
MIN_DURATION_RATIO = 0.5
MAX_DURATION_RATIO = 2.0
MAX_DURATION_SECONDS = 600.0
INT16_MAX = 32767

Language = Literal["zh", "en"]
EmotionKind = Literal["none", "audio", "vector", "preset", "text"]
AudioSource = Path | bytes


@dataclass(frozen=True)
class Emotion:
    """How the speech should feel: nothing, a reference clip, an 8-value vector, a preset, or free text.

    ``intensity`` (0..1) scales the emotion the way the reference's ``emo_alpha`` does. Build one with the
    class methods (or :meth:`parse` for the CLI's ``--emotion`` syntax); the constructor checks consistency.
    """

    kind: EmotionKind = "none"
    intensity: float = 1.0
    audio: AudioSource | None = None
    vector: tuple[float, ...] | None = None
    preset: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.intensity, int | float) and 0.0 <= self.intensity <= 1.0):
            raise InvalidRequest(f"emotion intensity must be between 0 and 1, got {self.intensity!r}")
        given = {"audio": self.audio, "vector": self.vector, "preset": self.preset, "text": self.text}
        extra = [name for name, value in given.items() if value is not None and name != self.kind]
        if extra or (self.kind != "none" and given[self.kind] is None):
            raise InvalidRequest(f"emotion of kind {self.kind!r} needs exactly its own field, got {sorted(extra)}")
        if self.kind == "vector":
            values = tuple(float(v) for v in self.vector or ())
            if len(values) != len(EMOTIONS) or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
                raise InvalidRequest(f"an emotion vector has {len(EMOTIONS)} values in 0..1 ({', '.join(EMOTIONS)})")
            if sum(values) > 1.5:
                raise InvalidRequest(f"emotion vector sums to {sum(values):.2f}; keep the sum at or below 1.5")
            object.__setattr__(self, "vector", values)
        if self.kind == "preset" and self.preset not in EMOTION_PRESETS:
            raise InvalidRequest(f"unknown emotion preset {self.preset!r}; known: {', '.join(EMOTION_PRESETS)}")
        if self.kind == "text" and not (self.text or "").strip():
            raise InvalidRequest("emotion text is empty")

    @classmethod
    def none(cls) -> Emotion:
        return cls()

    @classmethod
    def from_audio(cls, audio: AudioSource, intensity: float = 1.0) -> Emotion:
        return cls(kind="audio", audio=audio, intensity=intensity)

    @classmethod
    def from_vector(cls, vector: Sequence[float], intensity: float = 1.0) -> Emotion:
        return cls(kind="vector", vector=tuple(vector), intensity=intensity)

    @classmethod
    def from_preset(cls, name: str, intensity: float = 1.0) -> Emotion:
        return cls(kind="preset", preset=name, intensity=intensity)

    @classmethod
    def from_text(cls, text: str, intensity: float = 1.0) -> Emotion:
        return cls(kind="text", text=text, intensity=intensity)

    @classmethod
    def parse(cls, spec: str) -> Emotion:
        """The CLI syntax: ``urgent``, ``urgent@0.7``, ``vector:0,0,0,0,0,0,0,0.6``, ``audio:FILE``, ``text:...``.

        ``@INTENSITY`` may follow any form but ``text:`` (whose text may contain ``@``).
        """
        spec = spec.strip()
        kind, sep, rest = spec.partition(":")
        if sep and kind == "text":
            return cls.from_text(rest)
        body, at, level = spec.rpartition("@") if "@" in spec else (spec, "", "")
        try:
            intensity = float(level) if at else 1.0
        except ValueError:
            raise InvalidRequest(f"emotion intensity {level!r} is not a number") from None
        kind, sep, rest = body.partition(":")
        if not sep:
            return cls() if body in ("", "none") else cls.from_preset(body, intensity)
        if kind == "audio":
            return cls.from_audio(Path(rest), intensity)
        if kind == "vector":
            try:
                return cls.from_vector([float(v) for v in rest.split(",")], intensity)
            except ValueError:
                raise InvalidRequest(f"emotion vector {rest!r} is not {len(EMOTIONS)} numbers") from None
        raise InvalidRequest(f"unknown emotion form {kind!r}; use a preset, vector:, audio: or text:")

    def weights(self) -> tuple[float, ...] | None:
        """The 8-value vector already scaled by intensity (presets and vectors); None for the other kinds."""
        base = EMOTION_PRESETS[self.preset] if self.kind == "preset" and self.preset else self.vector
        return None if base is None else tuple(v * self.intensity for v in base)


_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>x|×|s|sec|seconds?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Duration:
    """Speech length control: ``ratio`` × the natural length, or a target length in ``seconds``.

    A ratio is checked here (0.5×–2×); a target length can only be checked against the natural length, which
    the engine knows once it has planned the speech, and it refuses targets that imply a ratio outside that range.
    """

    ratio: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if (self.ratio is None) == (self.seconds is None):
            raise InvalidRequest("a duration is either a ratio (0.9x) or a length in seconds (12s)")
        if self.ratio is not None:
            check_ratio(self.ratio, "duration ratio")
        if self.seconds is not None and not (0.0 < self.seconds <= MAX_DURATION_SECONDS):
            raise InvalidRequest(f"target duration must be between 0 and {MAX_DURATION_SECONDS:g} seconds")

    @classmethod
    def parse(cls, spec: str) -> Duration:
        """``0.9x`` / ``0.9×`` → ratio, ``12s`` / ``12.5 seconds`` → target length."""
        match = _DURATION.match(spec)
        if not match:
            raise InvalidRequest(f"duration {spec!r} is neither a ratio like 0.9x nor a length like 12s")
        value = float(match["value"])
        return cls(ratio=value) if match["unit"].lower() in ("x", "×") else cls(seconds=value)

    def ratio_for(self, natural_seconds: float) -> float:
        """The length ratio to apply to speech whose natural length is ``natural_seconds``."""
        if self.ratio is not None:
            return self.ratio
        assert self.seconds is not None
        ratio = self.seconds / max(natural_seconds, 1e-6)
        check_ratio(ratio, f"a {self.seconds:g} s target for {natural_seconds:.2f} s of speech needs a ratio that")
        return ratio

    def __str__(self) -> str:
        return f"{self.ratio:g}x" if self.ratio is not None else f"{self.seconds:g}s"


def check_ratio(ratio: float, what: str) -> None:
    """Refuse length ratios beyond which speech stops being intelligible."""
    if not (math.isfinite(ratio) and MIN_DURATION_RATIO <= ratio <= MAX_DURATION_RATIO):
        raise InvalidRequest(
            f"{what} is {ratio:.2f}; it must be between {MIN_DURATION_RATIO:g}x and {MAX_DURATION_RATIO:g}x"
        )


@dataclass(frozen=True)
class SynthesisRequest:
    """Everything one synthesis needs. Checked on construction (InvalidRequest names the problem).

    ``voice`` is a registered voice name, a path to a reference clip, or the clip's bytes; None is the default
    voice. ``glossary`` maps terms to readings (``蚌埠`` → ``beng4 bu4``, ``k8s`` → ``kubernetes``) on top of
    the voice's own glossary. ``timezone`` is the listener's (IANA name) for times read aloud.
    """

    text: str
    voice: str | Path | bytes | None = None
    emotion: Emotion = field(default_factory=Emotion)
    duration: Duration | None = None
    language: Language | None = None
    seed: int | None = None
    glossary: Mapping[str, str] = field(default_factory=dict)
    timezone: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidRequest("text is empty")
        if len(self.text) > MAX_TEXT_CHARS:
            raise InvalidRequest(f"text is {len(self.text)} characters; the limit is {MAX_TEXT_CHARS}")
        if self.language not in (None, "zh", "en"):
            raise InvalidRequest(f"language must be 'zh' or 'en', got {self.language!r}")
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2**63):
            raise InvalidRequest(f"seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.voice, str) and not self.voice.strip():
            raise InvalidRequest("voice name is empty")
        if self.timezone is not None:
            _check_timezone(self.timezone)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(f"unknown time zone {name!r}") from None


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono speech: float32 ``samples`` in [-1, 1] at ``sample_rate``, plus how it was made.

    ``fallback`` is True when the offline voice spoke instead of the model (``fallback_reason`` says why), so a
    caller can log it, show it, or retry later.
    """

    samples: np.ndarray
    sample_rate: int
    fallback: bool = False
    fallback_reason: str | None = None

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32).reshape(-1)
        object.__setattr__(self, "samples", np.clip(samples, -1.0, 1.0))

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    def to_pcm16(self) -> np.ndarray:
        """int16 samples, scaled and truncated the way the reference converts its output."""
        return (self.samples * INT16_MAX).astype(np.int16)

    def to_wav(self) -> bytes:
        """A 16-bit PCM WAV file."""
        out = io.BytesIO()
        soundfile.write(out, self.to_pcm16(), self.sample_rate, format="WAV", subtype="PCM_16")
        return out.getvalue()

    def resampled(self, sample_rate: int) -> Audio:
        """The same speech at another rate (libsoxr, high quality)."""
        if sample_rate == self.sample_rate:
            return self
        import soxr

        samples = soxr.resample(self.samples, self.sample_rate, sample_rate, quality="HQ")
        return Audio(samples, sample_rate, self.fallback, self.fallback_reason)

    def to_mulaw(self) -> bytes:
        """Raw 8 kHz G.711 μ-law bytes, what telephony media streams (e.g. Twilio ``audio/x-mulaw``) carry."""
        return self._encode_8k(format="RAW")

    def to_mulaw_wav(self) -> bytes:
        """An 8 kHz μ-law WAV file (what a phone provider's ``<Play>`` fetches)."""
        return self._encode_8k(format="WAV")

    def _encode_8k(self, *, format: str) -> bytes:
        out = io.BytesIO()
        soundfile.write(out, self.resampled(8000).samples, 8000, format=format, subtype="ULAW")
        return out.getvalue()

    @classmethod
    def from_wav(cls, data: bytes, *, fallback: bool = False, fallback_reason: str | None = None) -> Audio:
        """Decode a WAV (or any libsndfile format) into mono Audio; InvalidAudio when it cannot be read."""
        try:
            samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
            raise InvalidAudio(f"audio cannot be read: {exc}") from None
        return cls(samples.mean(axis=1), rate, fallback, fallback_reason)

    @classmethod
    def concatenate(cls, parts: Sequence[Audio], *, gap_seconds: float = 0.0) -> Audio:
        """Join segments with ``gap_seconds`` of silence between them (the reference uses 200 ms)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        rate = parts[0].sample_rate
        gap = np.zeros(round(rate * gap_seconds), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for index, part in enumerate(parts):
            pieces.extend([gap, part.resampled(rate).samples] if index else [part.resampled(rate).samples])
        reasons = [p.fallback_reason for p in parts if p.fallback_reason]
        return cls(np.concatenate(pieces), rate, any(p.fallback for p in parts), reasons[0] if reasons else None)


def synthesize(request: SynthesisRequest, *, engine: Engine | None = None) -> Audio:
    """Speak ``request`` with ``engine`` (default: :func:`tts_engine.engine.default_engine`, the process's).

    Never raises for a valid request: a model that is absent or fails gives the fallback voice (``audio.fallback``).
    """
    return _engine(engine).synthesize(request)


def stream(request: SynthesisRequest, *, engine: Engine | None = None) -> Iterator[Audio]:
    """Like :func:`synthesize`, one :class:`Audio` per text segment, each as soon as it is ready."""
    return _engine(engine).stream(request)


def _engine(engine: Engine | None) -> Engine:
    if engine is not None:
        return engine
    from tts_engine.engine import default_engine

    return default_engine()
