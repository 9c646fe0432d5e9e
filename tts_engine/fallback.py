"""The offline fallback voice: espeak-ng, driven through its C library, for Mandarin and English.

Herald must speak on a fresh machine with no model folder, and when the model fails mid-incident. espeak-ng is a
formant synthesiser: robotic, but instant, tiny, and it reads both languages. The `espeakng-loader` wheel ships the
library and its data, so nothing is installed system-wide; we call it through ctypes (the wheel's own helper only
loads it). This module needs NumPy and that wheel only: no torch.

espeak-ng keeps its voice and parameters in process-global C state, so :func:`espeak` hands out the one library
object of the process and every synthesis holds its lock.

Emotion becomes prosody: the 8-value emotion vector (or a preset's) is folded into arousal, which sets the speaking
rate, pitch and pitch range. Duration control is done in two steps, both pitch-preserving: espeak's own rate
(words per minute) is set from the natural length measured at the base rate, which lands within a few percent, and
:func:`time_stretch` (WSOLA) then fits each segment to its exact sample count. WSOLA is hand-written (~30 lines of
NumPy) because the residual stretch is within a few percent, where WSOLA is transparent, and the libraries that
offer it pull in SciPy or a command-line binary for the same few lines.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from tts_engine.api import EMOTIONS, Duration
from tts_engine.errors import TtsError

__all__ = ["FallbackVoice", "Prosody", "Rendered", "espeak", "prosody_for", "split_sentences", "time_stretch"]

# espeak-ng's C API constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_RATE_LIMITS = (80, 450)
_VOICES = {"zh": "cmn", "en": "en-us"}
BASE_RATE = {"zh": 170, "en": 165}

GAP_SECONDS = 0.2  # silence between segments, as the model's pipeline leaves
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；…])\s+|(?<=[。！？；…])|\n+")
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakLibrary:
    """The loaded espeak-ng library (one per process: its state is global). Thread-safe through one lock."""

    def __init__(self) -> None:
        import espeakng_loader

        try:
            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as exc:
            raise TtsError(f"espeak-ng library cannot be loaded: {exc}") from None
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise TtsError("espeak-ng failed to initialise (is the espeakng-loader data folder complete?)")
        self.sample_rate = int(rate)
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: the C side calls it later
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer, count: int, _events: int) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def speak(self, text: str, *, language: str, rate: int, pitch: int = 50, pitch_range: int = 50) -> np.ndarray:
        """Float32 samples of ``text`` at :attr:`sample_rate`."""
        data = text.encode("utf-8")
        with self._lock:
            status = self._lib.espeak_SetVoiceByName(_VOICES[language].encode())
            if status != 0:
                raise TtsError(f"espeak-ng has no voice {_VOICES[language]!r} (error {status})")
            for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
                self._lib.espeak_SetParameter(param, int(value), 0)
            self._lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
            self._chunks = []
            status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise TtsError(f"espeak-ng synthesis failed (error {status})")
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


@cache
def espeak() -> EspeakLibrary:
    """The process's espeak-ng library, loaded on first use."""
    return EspeakLibrary()


@dataclass(frozen=True)
class Prosody:
    """espeak parameters: rate multiplier on the language's base rate, pitch and pitch range (0..100)."""

    rate_scale: float = 1.0
    pitch: int = 50
    pitch_range: int = 50


def prosody_for(weights: Sequence[float] | None) -> Prosody:
    """Fold an 8-value emotion vector (already scaled by intensity) into prosody.

    Aroused emotions (happy, angry, afraid, surprised) speed up and raise the voice; low ones (sad, melancholic,
    calm) slow down and flatten it. Urgent is therefore faster and higher, reassuring slower and warmer.
    """
    if not weights:
        return Prosody()
    w = dict(zip(EMOTIONS, weights, strict=True))
    lively = w["happy"] + w["angry"] + w["afraid"] + w["surprised"]
    low = w["sad"] + w["melancholic"] + w["calm"]
    arousal = max(-1.0, min(1.0, lively - low))
    expressive = max(-1.0, min(1.0, w["happy"] + w["surprised"] + w["angry"] - w["sad"] - w["melancholic"]))
    return Prosody(
        rate_scale=1.0 + 0.25 * arousal,
        pitch=round(50 + 20 * arousal),
        pitch_range=round(min(100, max(0, 50 + 35 * expressive - 15 * w["calm"]))),
    )


def split_sentences(text: str) -> list[str]:
    """Sentences (the fallback's segments): split after sentence punctuation and at line breaks."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def time_stretch(samples: np.ndarray, length: int, *, frame: int = 1024) -> np.ndarray:
    """WSOLA: ``samples`` made exactly ``length`` long without changing pitch.

    Overlap-adds Hann-windowed frames at a fixed output hop (frame/2); each frame is read near its nominal input
    position, shifted (within ±frame/4) to the offset whose waveform best continues the previous frame, which is
    what keeps the pitch periods intact.
    """
    if length <= 0:
        return np.zeros(0, dtype=np.float32)
    if len(samples) < 2 * frame or len(samples) == length:
        return _fit(samples, length)
    hop, tolerance = frame // 2, frame // 4
    window = np.hanning(frame).astype(np.float32)
    padded = np.concatenate([np.zeros(tolerance, np.float32), samples, np.zeros(frame + tolerance, np.float32)])
    out = np.zeros(length + frame, dtype=np.float32)
    weight = np.zeros(length + frame, dtype=np.float32)
    step = (len(samples) - frame) / max(1, (length - frame) / hop)
    previous = tolerance
    for index in range(0, length, hop):
        nominal = tolerance + min(round(index / hop * step), len(samples))
        natural = padded[previous + hop : previous + hop + frame]
        region = padded[nominal - tolerance : nominal + tolerance + frame]
        scores = np.correlate(region, natural, mode="valid") if natural.any() else np.zeros(1)
        start = nominal - tolerance + int(np.argmax(scores))
        out[index : index + frame] += window * padded[start : start + frame]
        weight[index : index + frame] += window
        previous = start
    return (out / np.maximum(weight, 1e-3))[:length]


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    """Pad with silence or cut (only for clips too short to stretch)."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out


@dataclass(frozen=True)
class Rendered:
    """Sentences' samples and the silence (in samples) to leave between them."""

    segments: list[np.ndarray]
    gap: int


class FallbackVoice:
    """Speech from espeak-ng with emotion prosody and exact duration control, one array per sentence."""

    def __init__(self, library: EspeakLibrary | None = None) -> None:
        self._library = library

    @property
    def library(self) -> EspeakLibrary:
        return self._library or espeak()

    @property
    def sample_rate(self) -> int:
        return self.library.sample_rate

    def gap_samples(self, ratio: float = 1.0) -> int:
        return round(self.sample_rate * GAP_SECONDS * ratio)

    def render(
        self,
        text: str,
        *,
        language: str,
        emotion: Sequence[float] | None = None,
        duration: Duration | None = None,
    ) -> Rendered:
        """Each sentence's samples. With ``duration`` the whole (gaps included) scales by one ratio, exactly."""
        sentences = split_sentences(text) or [text]
        prosody = prosody_for(emotion)
        rate = BASE_RATE[language] * prosody.rate_scale
        natural = [self._speak(s, language, rate, prosody) for s in sentences]
        if duration is None:
            return Rendered(natural, self.gap_samples())
        gaps = self.gap_samples() * (len(natural) - 1)
        ratio = duration.ratio_for((sum(map(len, natural)) + gaps) / self.sample_rate)
        targets = self._targets([len(n) for n in natural], ratio, duration)
        out = []
        for sentence, speech, target in zip(sentences, natural, targets, strict=True):
            # espeak's rate first (pitch-preserving, coarse), then WSOLA for the last few percent.
            rerendered = self._speak(sentence, language, rate * len(speech) / max(target, 1), prosody)
            out.append(time_stretch(rerendered, target))
        return Rendered(out, self.gap_samples(ratio))

    def _targets(self, natural: list[int], ratio: float, duration: Duration) -> list[int]:
        """Per-segment sample counts whose sum plus the scaled gaps is exactly the requested length."""
        targets = [round(n * ratio) for n in natural]
        if duration.seconds is not None:
            total = round(duration.seconds * self.sample_rate) - self.gap_samples(ratio) * (len(natural) - 1)
            targets[-1] += total - sum(targets)
        return targets

    def _speak(self, text: str, language: str, rate: float, prosody: Prosody) -> np.ndarray:
        bounded = int(min(max(rate, _RATE_LIMITS[0]), _RATE_LIMITS[1]))
        return self.library.speak(
            text, language=language, rate=bounded, pitch=prosody.pitch, pitch_range=prosody.pitch_range
        )
