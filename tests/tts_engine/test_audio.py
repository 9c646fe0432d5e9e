"""The audio front end against the reference's numbers, and the refusal of unusable voice clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from tts_engine.audio import (
    MAX_CLIP_SECONDS,
    MelSpectrogram,
    cut_clip,
    kaldi_fbank,
    load_audio,
    load_voice_clip,
    mel_spectrogram,
    resample,
)
from tts_engine.config import ModelConfig
from tts_engine.conformance import Bundle, Case
from tts_engine.errors import InvalidAudio

SPEECH_SR = 22050


def _cases(bundle: Bundle, component: str) -> list[Case]:
    cases = [case for case in bundle.cases if case.component == component]
    assert cases, f"the bundle has no {component} case"
    return cases


def _assert_within(case: Case, name: str, actual: torch.Tensor) -> None:
    item = next(item for item in case.outputs if item.name == name)
    assert item.tolerance is not None
    expected = case.expected(name)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    error = float((actual.double() - expected.double()).abs().max())
    assert error <= item.tolerance.atol, f"{case.id}/{name}: max|err| {error:.3g} > atol {item.tolerance.atol:.3g}"


def _write(path: Path, wav: torch.Tensor, sr: int, subtype: str = "PCM_16") -> Path:
    soundfile.write(str(path), wav.squeeze(0).numpy(), sr, subtype=subtype)
    return path


def _tone(seconds: float, sr: int, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * sr), dtype=torch.float32) / sr
    return (amplitude * torch.sin(2 * torch.pi * 220.0 * t)).unsqueeze(0)


def test_mel_matches_the_reference(bundle: Bundle, model_config: ModelConfig) -> None:
    for case in _cases(bundle, "mel"):
        _assert_within(case, "mel", mel_spectrogram(case.input("audio"), model_config.mel))


def test_mel_frame_count_and_batching(model_config: ModelConfig) -> None:
    cfg = model_config.mel
    wav = torch.randn(2, 5000) * 0.1
    mel = MelSpectrogram(cfg)(wav)
    assert mel.shape == (2, cfg.num_mels, 5000 // cfg.hop_size)
    torch.testing.assert_close(mel[1:], mel_spectrogram(wav[1:], cfg))


def test_fbank_matches_the_fbank_style_cases(bundle: Bundle) -> None:
    for case in _cases(bundle, "fbank_style"):
        fbank = kaldi_fbank(case.input("audio16k"))
        _assert_within(case, "fbank", fbank)
        torch.testing.assert_close(fbank.mean(dim=0), torch.zeros(fbank.shape[1]), atol=1e-5, rtol=0)


def test_loading_and_resampling_follow_the_reference_pipeline(bundle: Bundle, tmp_path: Path) -> None:
    """From the file to every front-end intermediate of the end-to-end cases (speaker and emotion paths)."""
    for case in _cases(bundle, "end_to_end"):
        spk = _write(tmp_path / f"{case.id}_spk.wav", case.input("spk_audio"), case.input("spk_sample_rate"))
        audio_22k = load_voice_clip(spk, SPEECH_SR)
        if "audio_22k" in case.output_names:
            _assert_within(case, "audio_22k", audio_22k)
        audio_16k = resample(audio_22k, SPEECH_SR, 16000)
        _assert_within(case, "spk_audio_16k", audio_16k)
        _assert_within(case, "ref_mel", mel_spectrogram(audio_22k, bundle.config.mel))
        _assert_within(case, "fbank", kaldi_fbank(audio_16k))
        emo_source = spk
        if case.has_input("emo_audio"):
            emo_source = _write(tmp_path / f"{case.id}_emo.wav", case.input("emo_audio"), case.input("emo_sample_rate"))
        _assert_within(case, "emo_audio_16k", load_voice_clip(emo_source, 16000))


def test_resample_matches_torchaudios_transform() -> None:
    wav = _tone(0.5, SPEECH_SR)
    expected = torchaudio.transforms.Resample(SPEECH_SR, 16000)(wav)
    assert torch.equal(resample(wav, SPEECH_SR, 16000), expected)
    assert resample(wav, 16000, 16000) is wav


@pytest.mark.parametrize(("suffix", "subtype"), [(".wav", "PCM_16"), (".flac", "PCM_24"), (".ogg", "VORBIS")])
def test_common_formats_are_mixed_down_to_mono(tmp_path: Path, suffix: str, subtype: str) -> None:
    left, right = _tone(1.2, 24000, 0.4), _tone(1.2, 24000, 0.2)
    stereo = torch.cat([left, right]).T.contiguous().numpy()
    path = tmp_path / f"clip{suffix}"
    soundfile.write(str(path), stereo, 24000, subtype=subtype)
    wav = load_audio(path, 24000)
    assert wav.shape == (1, left.shape[1]) and wav.dtype == torch.float32
    atol = 0.02 if subtype == "VORBIS" else 1e-4
    torch.testing.assert_close(wav, (left + right) / 2, atol=atol, rtol=0)


def test_resampled_length_is_librosas(tmp_path: Path) -> None:
    path = _write(tmp_path / "odd.wav", _tone(1.1, 16000)[:, :16001], 16000)
    assert load_audio(path, SPEECH_SR).shape[1] == int(np.ceil(16001 * SPEECH_SR / 16000))


def test_long_clip_is_cut_to_fifteen_seconds(tmp_path: Path) -> None:
    path = _write(tmp_path / "long.wav", _tone(MAX_CLIP_SECONDS + 2, 16000), 16000)
    clip = load_voice_clip(path, 16000)
    assert clip.shape == (1, int(MAX_CLIP_SECONDS * 16000))
    assert torch.equal(clip, cut_clip(load_audio(path, 16000), 16000))


def test_unreadable_clip(tmp_path: Path) -> None:
    path = tmp_path / "voice.wav"
    path.write_bytes(b"RIFF garbage, not audio" * 20)
    with pytest.raises(InvalidAudio, match=r"voice\.wav: not a readable audio file"):
        load_voice_clip(path, 16000)
    with pytest.raises(InvalidAudio, match="not a readable audio file"):
        load_voice_clip(tmp_path / "absent.wav", 16000)


def test_empty_clip(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.wav", torch.zeros(1, 0), 16000)
    with pytest.raises(InvalidAudio, match="holds no samples"):
        load_voice_clip(path, 16000)


def test_silent_clip(tmp_path: Path) -> None:
    path = _write(tmp_path / "silent.wav", torch.zeros(1, 32000), 16000)
    with pytest.raises(InvalidAudio, match="silent"):
        load_voice_clip(path, 16000)


def test_short_clip(tmp_path: Path) -> None:
    path = _write(tmp_path / "short.wav", _tone(0.6, 16000), 16000)
    with pytest.raises(InvalidAudio, match=r"lasts 0\.60 s; a voice reference needs at least 1 s"):
        load_voice_clip(path, SPEECH_SR)
