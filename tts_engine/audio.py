"""Audio front end: reading clips, resampling, the s2mel/BigVGAN mel spectrogram and CAMPPlus's Kaldi fbank.

Each function computes what the reference computes, with the libraries it used where they are available:

* reading: soundfile, mono by averaging channels, then libsoxr "HQ" resampling to the requested rate, padded or
  trimmed to ``ceil(N · to / from)`` samples (what ``librosa.load(path, sr=...)`` does, without librosa);
* :func:`resample`: torchaudio's windowed-sinc resampler (Hann window, width 6, roll-off 0.99), as
  ``torchaudio.transforms.Resample`` in the reference;
* :func:`mel_spectrogram`: HiFi-GAN/BigVGAN style log-mel (reflect padding, no centring, magnitude with a 1e-9
  floor, Slaney mel filters as librosa builds them, log with a 1e-5 floor);
* :func:`kaldi_fbank`: ``torchaudio.compliance.kaldi.fbank`` minus its mean over time.

A voice reference goes through :func:`load_voice_clip`, which refuses what no network could use (unreadable,
empty, silent, shorter than a second) with :class:`InvalidAudio`, and cuts a clip longer than the reference's
15 s as the reference does.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import soundfile
import soxr
import torch
import torchaudio
from torch import Tensor, nn

from tts_engine.config import CampplusDims, MelConfig
from tts_engine.errors import InvalidAudio

__all__ = [
    "FBANK_SAMPLE_RATE",
    "MAX_CLIP_SECONDS",
    "MIN_CLIP_SECONDS",
    "MelSpectrogram",
    "cut_clip",
    "kaldi_fbank",
    "load_audio",
    "load_voice_clip",
    "mel_spectrogram",
    "resample",
]

# The reference cuts voice and emotion references to 15 s (longer prompts are not used further).
MAX_CLIP_SECONDS = 15.0
# Below a second there is too little speech for a speaker embedding.
MIN_CLIP_SECONDS = 1.0
# A clip whose loudest sample stays below -60 dBFS is treated as silence.
SILENCE_PEAK = 10 ** (-60 / 20)
# The rate of the semantic (w2v-BERT) and speaker (CAMPPlus fbank) front ends.
FBANK_SAMPLE_RATE = 16000
FBANK_BINS = next(f.default for f in fields(CampplusDims) if f.name == "feat_dim")
# Floors of the reference mel spectrogram: under the square root of the power, and under the log.
MAGNITUDE_EPS = 1e-9
LOG_FLOOR = 1e-5


def load_audio(path: str | Path, target_sr: int) -> Tensor:
    """A file (WAV, FLAC, OGG, ... anything libsndfile reads) as mono float32 ``[1, N]`` at ``target_sr``.

    Raises InvalidAudio for a file that cannot be read or holds no samples.
    """
    try:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise InvalidAudio(f"{path}: not a readable audio file ({exc})") from exc
    if data.shape[0] == 0:
        raise InvalidAudio(f"{path}: the audio file holds no samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if sr != target_sr:
        mono = _soxr_resample(mono, sr, target_sr)
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)).unsqueeze(0)


def load_voice_clip(path: str | Path, target_sr: int, *, max_seconds: float = MAX_CLIP_SECONDS) -> Tensor:
    """A voice/emotion reference: :func:`load_audio`, checked (not silent, at least a second) and cut.

    The cut keeps the first ``int(max_seconds · target_sr)`` samples, as the reference does after loading.
    """
    wav = load_audio(path, target_sr)
    seconds = wav.shape[-1] / target_sr
    if seconds < MIN_CLIP_SECONDS:
        raise InvalidAudio(
            f"{path}: the clip lasts {seconds:.2f} s; a voice reference needs at least {MIN_CLIP_SECONDS:g} s"
        )
    peak = float(wav.abs().max())
    if not math.isfinite(peak):
        raise InvalidAudio(f"{path}: the clip holds non-finite samples")
    if peak < SILENCE_PEAK:
        raise InvalidAudio(f"{path}: the clip is silent (peak {peak:.2g}, below -60 dBFS)")
    return cut_clip(wav, target_sr, max_seconds)


def cut_clip(wav: Tensor, sr: int, max_seconds: float = MAX_CLIP_SECONDS) -> Tensor:
    """``wav`` [..., N] limited to its first ``int(max_seconds · sr)`` samples."""
    return wav[..., : int(max_seconds * sr)]


def resample(wav: Tensor, from_sr: int, to_sr: int) -> Tensor:
    """``wav`` [..., N] from ``from_sr`` to ``to_sr`` with torchaudio's sinc/Hann resampler (identity if equal).

    The transform, not ``torchaudio.functional.resample``: the transform builds its kernel in float64, the
    function in the waveform's dtype, and the two differ by ~1e-5; the reference uses the transform.
    """
    if from_sr == to_sr:
        return wav
    return torchaudio.transforms.Resample(from_sr, to_sr).to(wav.device)(wav)


class MelSpectrogram(nn.Module):
    """The log-mel spectrogram of s2mel and BigVGAN, with its window and filterbank kept as buffers.

    A module rather than a cache keyed by sample rate (the reference's global cache ignores ``n_fft`` and
    ``n_mels``): each configuration owns its filterbank.
    """

    def __init__(self, cfg: MelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        f_max = cfg.fmax if cfg.fmax is not None else cfg.sampling_rate / 2
        filters = torchaudio.functional.melscale_fbanks(
            n_freqs=cfg.n_fft // 2 + 1,
            f_min=cfg.fmin,
            f_max=f_max,
            n_mels=cfg.num_mels,
            sample_rate=cfg.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.register_buffer("filters", filters.T.contiguous(), persistent=False)  # [M, n_fft/2 + 1]
        self.register_buffer("window", torch.hann_window(cfg.win_size), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        """wav: [B, N] float in [-1, 1] → [B, M, (N + 2·pad − n_fft) // hop + 1], pad = (n_fft − hop) / 2."""
        pad = (self.cfg.n_fft - self.cfg.hop_size) // 2
        padded = torch.nn.functional.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            padded,
            self.cfg.n_fft,
            hop_length=self.cfg.hop_size,
            win_length=self.cfg.win_size,
            window=self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        magnitude = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + MAGNITUDE_EPS)
        return torch.log(torch.clamp(torch.matmul(self.filters, magnitude), min=LOG_FLOOR))


def mel_spectrogram(wav: Tensor, cfg: MelConfig) -> Tensor:
    """wav [B, N] → log-mel [B, M, frames] (see :class:`MelSpectrogram`; build that once for repeated use)."""
    return MelSpectrogram(cfg).to(wav.device)(wav)


def kaldi_fbank(wav16k: Tensor, num_mel_bins: int = FBANK_BINS) -> Tensor:
    """wav16k [1, N] at 16 kHz (float in [-1, 1], not rescaled) → log-mel fbank [frames, bins], mean-removed.

    Kaldi defaults otherwise (25 ms Povey window, 10 ms shift, pre-emphasis 0.97, no dither): the features the
    CAMPPlus speaker encoder is fed, centred over time.
    """
    feats = torchaudio.compliance.kaldi.fbank(
        wav16k, num_mel_bins=num_mel_bins, dither=0.0, sample_frequency=FBANK_SAMPLE_RATE
    )
    return feats - feats.mean(dim=0, keepdim=True)


def _soxr_resample(samples: np.ndarray, from_sr: int, to_sr: int) -> np.ndarray:
    """libsoxr "HQ", then padded with zeros or trimmed to ``ceil(N · to / from)`` samples (librosa's length)."""
    out = soxr.resample(samples, from_sr, to_sr, quality="HQ")
    length = math.ceil(samples.shape[0] * (float(to_sr) / from_sr))
    if out.shape[0] >= length:
        return out[:length]
    return np.pad(out, (0, length - out.shape[0]))
