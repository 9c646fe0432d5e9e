"""Voice conditioning: a reference clip → what the GPT and the s2mel decoder are conditioned on.

This is the part of IndexTTS-2's ``infer_generator`` that depends only on the voice (and emotion) clips, not on
the text, and not on ``gpt.pth``. It runs once per voice, so its result is what a voice cache keeps::

    audio_16k        = resample(audio_22k, 22050 → 16000)        torchaudio sinc/Hann, as the reference
    spk_cond_emb     = w2v-BERT layer 17 of audio_16k, normalised  [1, Ts, D]   GPT speaker conditioning
    codes, S_ref     = semantic_codec.quantize(spk_cond_emb)        [1, Ts], [1, Ts, D]
    ref_mel          = mel_spectrogram(audio_22k)                   [1, M, Tp]   s2mel prompt
    style            = CAMPPlus(kaldi_fbank(audio_16k) − mean)      [1, E]       s2mel style, emotion matrix choice
    prompt_condition = length_regulator(S_ref, Tp)                  [1, Tp, C]   s2mel prompt condition
    emo_cond_emb     = w2v-BERT of the emotion clip at 16 kHz      [1, Te, D]   GPT emotion conditioning

One w2v-BERT pass serves both conditionings when the emotion clip is the speaker clip at the same 16 kHz
samples. The reference always makes two: it reloads the emotion clip with a *different* resampler (libsoxr
straight to 16 kHz) even when it is the speaker's own file, so its ``emo_cond_emb`` differs slightly from
``spk_cond_emb``. That holds at any rate of the file: a 16 kHz file reaches w2v-BERT unchanged on the emotion
path but through 22.05 kHz and back on the speaker path. A caller that must reproduce that passes the separately
resampled clip as ``emo_audio_16k`` (both clips then run as one batch when their lengths agree); one that accepts
the speaker features as the emotion reference passes nothing and saves a pass.

Shapes: ``D`` semantic dimension, ``M`` mel bins, ``E`` style size, ``C`` length-regulator channels;
``Ts``/``Te`` w2v-BERT frames (50 Hz), ``Tp`` mel frames of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tts_engine import audio
from tts_engine.config import ModelConfig
from tts_engine.loading import fold_weight_norm, load_strict, on_meta, read_tensors, sub_state
from tts_engine.networks.campplus import CAMPPlus, CampplusConfig
from tts_engine.networks.length_regulator import LengthRegulator, LengthRegulatorConfig
from tts_engine.networks.semantic_codec import SemanticCodec, SemanticCodecConfig
from tts_engine.networks.w2v_bert import W2vBert, W2vBertConfig

__all__ = [
    "VoiceConditioner",
    "VoiceConditioning",
    "load_campplus",
    "load_length_regulator",
    "load_semantic_codec",
    "load_voice_conditioner",
    "load_w2v_bert",
]

SEMANTIC_CODEC_FILE = "hf_cache/semantic_codec_model.safetensors"
CAMPPLUS_FILE = "hf_cache/campplus_cn_common.bin"
LENGTH_REGULATOR_SECTION = "net.length_regulator"


@dataclass(frozen=True)
class VoiceConditioning:
    """Everything a voice contributes to a synthesis, as tensors on the conditioner's device (float32, B = 1)."""

    spk_cond_emb: Tensor  # [1, Ts, D]
    s_ref_codes: Tensor  # [1, Ts] int64
    s_ref: Tensor  # [1, Ts, D]
    ref_mel: Tensor  # [1, M, Tp]
    style: Tensor  # [1, E]
    prompt_condition: Tensor  # [1, Tp, C]
    emo_cond_emb: Tensor  # [1, Te, D]


class VoiceConditioner:
    """The conditioning networks of one model folder, and the stages that run them on a clip.

    Each stage is a method so that callers (the pipeline's teacher-forced checks, the benchmark) can run or
    time it alone; :meth:`__call__` runs them all.
    """

    def __init__(
        self,
        w2v_bert: W2vBert,
        codec: SemanticCodec,
        campplus: CAMPPlus,
        length_regulator: LengthRegulator,
        mel_spectrogram: audio.MelSpectrogram,
    ) -> None:
        self.w2v_bert = w2v_bert
        self.codec = codec
        self.campplus = campplus
        self.length_regulator = length_regulator
        self.mel_spectrogram = mel_spectrogram

    @property
    def device(self) -> torch.device:
        return self.codec.vq.codebook.weight.device

    @property
    def sampling_rate(self) -> int:
        """The rate of the speaker clip this conditioner takes (the s2mel/BigVGAN rate, 22.05 kHz)."""
        return self.mel_spectrogram.cfg.sampling_rate

    def to_16k(self, audio_22k: Tensor) -> Tensor:
        """Speaker clip ``[1, N]`` at :attr:`sampling_rate` → ``[1, N16]`` at w2v-BERT's rate (16 kHz)."""
        return audio.resample(audio_22k, self.sampling_rate, self.w2v_bert.sampling_rate)

    def semantic_features(self, audio_16k: Tensor) -> Tensor:
        """Normalised w2v-BERT features of 16 kHz clips of one length: ``[B, N16]`` → ``[B, T, D]``."""
        return self.w2v_bert.embed(audio_16k)

    def style(self, audio_16k: Tensor) -> Tensor:
        """CAMPPlus speaker style of a 16 kHz clip: ``[1, N16]`` → ``[1, E]``."""
        fbank = audio.kaldi_fbank(audio_16k.to(self.device), num_mel_bins=self.campplus.config.feat_dim)
        return self.campplus(fbank.unsqueeze(0))

    def ref_mel(self, audio_22k: Tensor) -> Tensor:
        """The s2mel mel spectrogram of the speaker clip: ``[1, N]`` → ``[1, M, Tp]``."""
        return self.mel_spectrogram(audio_22k.to(self.device))

    def prompt_condition(self, s_ref: Tensor, frames: int) -> Tensor:
        """The length regulator on the quantised reference features, to the clip's mel length: ``[1, Tp, C]``."""
        return self.length_regulator(s_ref, torch.tensor([frames], device=s_ref.device))

    @torch.inference_mode()
    def __call__(self, audio_22k: Tensor, emo_audio_16k: Tensor | None = None) -> VoiceConditioning:
        """Condition on a speaker clip ``[1, N]`` at :attr:`sampling_rate` (already cut to the 15 s limit).

        ``emo_audio_16k`` ``[1, Ne]`` is the emotion clip at 16 kHz; without it (or when it holds the same
        samples as the resampled speaker clip) the speaker features are reused and w2v-BERT runs once.
        """
        audio_22k = audio_22k.to(self.device)
        audio_16k = self.to_16k(audio_22k)
        spk_cond_emb, emo_cond_emb = self._both_semantic_features(audio_16k, emo_audio_16k)
        codes, s_ref = self.codec.quantize(spk_cond_emb)
        ref_mel = self.ref_mel(audio_22k)
        return VoiceConditioning(
            spk_cond_emb=spk_cond_emb,
            s_ref_codes=codes,
            s_ref=s_ref,
            ref_mel=ref_mel,
            style=self.style(audio_16k),
            prompt_condition=self.prompt_condition(s_ref, ref_mel.shape[-1]),
            emo_cond_emb=emo_cond_emb,
        )

    def _both_semantic_features(self, audio_16k: Tensor, emo_audio_16k: Tensor | None) -> tuple[Tensor, Tensor]:
        """Speaker and emotion features ``[1, T, D]`` each, in as few w2v-BERT passes as the clips allow.

        The same samples give one pass whose features serve both. Two clips of one length (the usual case: the
        speaker's own file read at 16 kHz as the reference does) go through as one batch of two, each row
        computed as alone; its matrix products read the 400 M weights of the 17 layers once, which saves ~7 %
        of the CPU time of two passes at full size (one thread). Other lengths take two passes.
        """
        if emo_audio_16k is not None:
            emo_audio_16k = emo_audio_16k.to(self.device)
        if emo_audio_16k is None or torch.equal(emo_audio_16k, audio_16k):
            features = self.semantic_features(audio_16k)
            return features, features
        if emo_audio_16k.shape != audio_16k.shape:
            return self.semantic_features(audio_16k), self.semantic_features(emo_audio_16k)
        spk, emo = self.semantic_features(torch.cat([audio_16k, emo_audio_16k])).split(1)
        return spk, emo


def load_w2v_bert(cfg: ModelConfig) -> W2vBert:
    """w2v-BERT with its feature extractor and statistics, cut after the layer IndexTTS reads, in eval mode."""
    return W2vBert.load(W2vBertConfig.from_model_config(cfg))


def load_semantic_codec(cfg: ModelConfig) -> SemanticCodec:
    """The MaskGCT semantic codec, weight norm folded, loaded strictly, in eval mode."""
    path = cfg.file(SEMANTIC_CODEC_FILE)
    config = SemanticCodecConfig.from_model_config(cfg)
    codec = on_meta(lambda: SemanticCodec(config))
    load_strict(codec, fold_weight_norm(read_tensors(path)), source=path)
    return codec.eval()


def load_campplus(cfg: ModelConfig) -> CAMPPlus:
    """CAMPPlus, loaded strictly (running statistics included), in eval mode."""
    path = cfg.file(CAMPPLUS_FILE)
    config = CampplusConfig.from_model_config(cfg)
    model = on_meta(lambda: CAMPPlus(config))
    load_strict(model, read_tensors(path), source=path)
    return model.eval()


def load_length_regulator(cfg: ModelConfig) -> LengthRegulator:
    """The length regulator alone, from its section of ``s2mel.pth`` (the s2mel container loads it too)."""
    path = cfg.file(cfg.get("s2mel_checkpoint", str))
    source = f"{path} [{LENGTH_REGULATOR_SECTION}]"
    state = sub_state(read_tensors(path), LENGTH_REGULATOR_SECTION, source=path)
    config = LengthRegulatorConfig.from_model_config(cfg)
    regulator = on_meta(lambda: LengthRegulator(config))
    load_strict(regulator, state, source=source)
    return regulator.eval()


def load_voice_conditioner(
    cfg: ModelConfig,
    *,
    length_regulator: LengthRegulator | None = None,
    device: torch.device | str = "cpu",
) -> VoiceConditioner:
    """Load every conditioning network of a model folder onto ``device``.

    Pass the s2mel container's ``length_regulator`` to share it instead of loading a second copy.
    """
    return VoiceConditioner(
        w2v_bert=load_w2v_bert(cfg).to(device),
        codec=load_semantic_codec(cfg).to(device),
        campplus=load_campplus(cfg).to(device),
        length_regulator=(length_regulator or load_length_regulator(cfg)).to(device),
        mel_spectrogram=audio.MelSpectrogram(cfg.mel).to(device),
    )
