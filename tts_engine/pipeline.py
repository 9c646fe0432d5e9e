"""The whole IndexTTS-2 synthesis, text and voice clip in, 22.05 kHz waveform out (``infer_generator``).

Stages, for one request (shape letters: D GPT width, E semantic width, M mel bins)::

    voice   speaker clip --librosa.load (libsoxr HQ) to 22.05 kHz, cut to 15 s--> audio_22k
            --torchaudio sinc resample--> audio_16k --w2v-BERT--> spk_cond_emb --codec--> S_ref
            audio_22k --mel--> ref_mel; audio_16k --fbank, CAMPPlus--> style
            S_ref --length regulator to ref_mel frames--> prompt_condition
            emotion clip (the speaker clip when none, or when an emotion vector is given)
            --librosa.load(sr=16000), a *separate* libsoxr resampling--> w2v-BERT --> emo_cond_emb
            GPT: speaker latents of spk_cond_emb; emotion vectors of spk_cond_emb and emo_cond_emb
    text    normalise, tokenise, split into segments of at most ``max_text_tokens_per_segment`` tokens
    segment emovec = blend(spk, emo, alpha) [then the 8-value emotion mix]; GPT generation -> codes (cut at
            the stop token); GPT teacher-forced pass -> latent [1, T, D]; s2mel (own noise per segment)
            -> mel [1, M, Tt]; BigVGAN -> [1, 1, 256 Tt]; ``clamp(32767 x, ±32767)``
    output  segments joined with 200 ms of zeros; ``infer`` returns it truncated to int16

Duration control (not in the reference) scales s2mel's target length, so speech gets slower or faster at the
voice's own pitch. ``Request.length_scale`` scales every segment's mel frames and the silences between them by
one ratio. ``Request.target_seconds`` asks for a total length: every segment's codes are generated first (their
natural mel lengths are known only then), the ratio is ``target / natural`` (silences included), the silences
are scaled by it and the mel frames that remain are shared among the segments in proportion to their natural
lengths, so the joined output is within one mel frame per segment of the target. Either way the ratio must stay
within 0.5×–2× (beyond that speech stops being intelligible). With the default scale of 1 nothing changes.

Everything that depends only on the voice (the first block) is a :class:`VoicePrompt`, computed once per
(speaker clip, emotion clip) and reusable across requests: that is the "warm voice" of the benchmark.

Modes. :data:`EXACT` reproduces the reference within the conformance tolerances (float32, 25 flow steps,
guidance 0.7, two w2v-BERT passes). :data:`FAST` trades exactness for speed: bfloat16 networks, int8
dynamic quantisation of the GPT's linear layers, fewer flow steps, guidance off, and the speaker features
reused as the emotion reference. ``bench/tts_core.py`` measures how far FAST lands from EXACT.

:meth:`Pipeline.stream` yields each segment as soon as its waveform exists, so the first audio of a long
text is ready after its first segment.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from tts_engine import audio
from tts_engine.api import check_ratio
from tts_engine.conditioning import VoiceConditioner, VoiceConditioning, load_voice_conditioner
from tts_engine.config import ModelConfig
from tts_engine.emotion import EmotionMatrices, EmotionMix, blend, mix_emotions
from tts_engine.errors import InvalidRequest
from tts_engine.flow import FlowSettings, initial_noise
from tts_engine.generation import DecodingOptions, codes_before_stop, generate
from tts_engine.networks.bigvgan import BigVGAN, load_bigvgan
from tts_engine.networks.gpt import UnifiedVoice, quantize_int8, reference_lengths
from tts_engine.s2mel import S2Mel, S2MelOutput, load_s2mel
from tts_engine.text import TextNormalizer, TextTokenizer, split_segments

__all__ = [
    "EXACT",
    "FAST",
    "FAST_GPU",
    "Mode",
    "Pipeline",
    "Request",
    "Segment",
    "SegmentCodes",
    "Synthesis",
    "VoicePrompt",
    "share",
]

# What infer_generator inserts between segments, and the int16 full scale it clamps to.
INTERVAL_SILENCE_MS = 200
INT16_PEAK = 32767.0


@dataclass(frozen=True)
class Mode:
    """How the networks run.

    ``dit_dtype`` is the DiT's dtype; ``vocoder_dtype`` that of BigVGAN's dense convolutions (its activations
    stay float32); ``gpt`` is ``"float32"``, ``"int8"`` (dynamic quantisation of the GPT-2 stack's and mel
    head's linear layers, CPU: what pays in the bandwidth-bound decode loop) or ``"float16"`` / ``"bfloat16"`` (autocast
    around the GPT passes, for GPUs). ``separate_emotion_pass`` runs w2v-BERT a second time on the speaker
    clip read straight at 16 kHz, as the reference does, instead of reusing the speaker features.
    """

    name: str
    dit_dtype: torch.dtype = torch.float32
    vocoder_dtype: torch.dtype = torch.float32
    gpt: str = "float32"
    flow: FlowSettings = field(default_factory=FlowSettings)
    separate_emotion_pass: bool = True

    @property
    def gpt_autocast(self) -> torch.dtype | None:
        return {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(self.gpt)


EXACT = Mode("exact")
FAST = Mode(
    "fast",
    dit_dtype=torch.bfloat16,
    vocoder_dtype=torch.bfloat16,
    gpt="int8",
    flow=FlowSettings(steps=10, cfg_rate=0.0),
    separate_emotion_pass=False,
)
# The fast mode's counterpart on a GPU: half-precision DiT and BigVGAN, no int8 (a CPU kernel). The GPT stays
# float32: one code's decode step is bound by kernel launches there (H100: 6.9 ms per code in float32, 10.6 ms
# under float16 autocast, whose casts add launches; bench/results/tts_core_cuda.json), not by reading weights.
FAST_GPU = Mode(
    "fast-gpu",
    dit_dtype=torch.float16,
    vocoder_dtype=torch.float16,
    flow=FlowSettings(steps=10, cfg_rate=0.0),
    separate_emotion_pass=False,
)


@dataclass(frozen=True)
class Request:
    """A synthesis request in the reference's terms (``infer_generator``'s arguments).

    ``emo_vector`` (8 values) replaces the emotion clip; ``emo_alpha`` blends the emotion clip's vector into
    the speaker's, or scales ``emo_vector``. ``noise`` gives each segment's initial flow sample (tests);
    otherwise they are drawn from ``generator`` (seeded by the caller for reproducibility).

    ``length_scale`` (0.5–2) multiplies the speech's natural length, silences included; ``target_seconds`` asks
    for a total length instead (see the module docstring; the request then yields nothing before every segment's
    codes exist, and a shared ``generator`` is drawn in that order). The two are exclusive.
    """

    text: str
    emo_alpha: float = 1.0
    emo_vector: Sequence[float] | None = None
    max_text_tokens_per_segment: int = 120
    interval_silence_ms: int = INTERVAL_SILENCE_MS
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    noise: Sequence[Tensor] | None = None
    generator: torch.Generator | None = None
    length_scale: float = 1.0
    target_seconds: float | None = None

    def __post_init__(self) -> None:
        check_ratio(self.length_scale, "the length scale")
        if self.target_seconds is not None:
            if not (math.isfinite(self.target_seconds) and self.target_seconds > 0):
                raise InvalidRequest(f"target length must be a positive number of seconds, got {self.target_seconds}")
            if self.length_scale != 1.0:
                raise InvalidRequest("give either a length scale or a target length, not both")


@dataclass(frozen=True)
class VoicePrompt:
    """Everything one (speaker clip, emotion clip) pair contributes, computed once (the voice cache entry)."""

    audio_22k: Tensor  # [1, N22] speaker clip at the s2mel rate
    emo_audio_16k: Tensor | None  # [1, Ne] separately resampled emotion clip, or None (speaker features reused)
    conditioning: VoiceConditioning
    speaker_latents: Tensor  # [1, N, D] GPT speaker conditioning
    emovec_spk: Tensor  # [1, D] emotion vector of the speaker clip (emovec_emo without an emotion clip)
    emovec_emo: Tensor  # [1, D] emotion vector of the emotion clip
    has_emotion_clip: bool  # an emotion clip other than the speaker's was given


@dataclass(frozen=True)
class SegmentCodes:
    """One segment's GPT half: what exists before s2mel (all of it, for every segment, when a total length is
    asked for)."""

    index: int
    tokens: list[str]  # SentencePiece pieces ([] when synthesised from ids)
    text_ids: Tensor  # [1, L] int32
    emovec_merged: Tensor  # [1, D] blend of speaker and emotion vectors
    emovec: Tensor  # [1, D] after the 8-value mix, if any
    codes_raw: Tensor  # [1, n] int64, with the stop token if one was generated
    codes: Tensor  # [1, T] int64
    latent: Tensor  # [1, T, D]


@dataclass(frozen=True)
class Segment(SegmentCodes):
    """One segment's result with every intermediate (the conformance case checks them all).

    ``silence_before`` is the number of zero samples that precede it in the joined output (0 for the first), so a
    streaming consumer can insert the same pause :meth:`Pipeline.join` does.
    """

    s2mel: S2MelOutput
    vocoder_out: Tensor  # [1, 1, S] in [-1, 1]
    wav: Tensor  # [1, S] float32 scaled to ±32767
    silence_before: int


@dataclass(frozen=True)
class Synthesis:
    """A finished request: the joined waveform (float, ±32767), its int16 form and the segments."""

    wav: Tensor  # [1, total]
    segments: list[Segment]
    sampling_rate: int

    @property
    def wav_int16(self) -> Tensor:
        """Truncated toward zero, as ``infer`` converts (``tensor.type(torch.int16)``)."""
        return self.wav.to(torch.int16)


class Pipeline:
    """The networks of one model folder and the stages of ``infer_generator`` over them."""

    def __init__(
        self,
        tokenizer: TextTokenizer | None,
        conditioner: VoiceConditioner,
        gpt: UnifiedVoice,
        emotions: EmotionMatrices,
        s2mel: S2Mel,
        vocoder: BigVGAN,
        mode: Mode,
    ) -> None:
        self.tokenizer = tokenizer
        self.conditioner = conditioner
        self.gpt = gpt
        self.emotions = emotions
        self.s2mel = s2mel
        self.vocoder = vocoder
        self.mode = mode

    @classmethod
    def load(cls, cfg: ModelConfig, *, mode: Mode = EXACT, device: torch.device | str = "cpu") -> Pipeline:
        """Load every network of the model folder, strictly, and prepare it for ``mode``."""
        s2mel = load_s2mel(cfg).to(device)
        return cls.build(
            tokenizer=TextTokenizer(cfg.bpe_model, TextNormalizer()),
            conditioner=load_voice_conditioner(cfg, length_regulator=s2mel.length_regulator, device=device),
            gpt=UnifiedVoice.load(cfg).to(device),
            emotions=EmotionMatrices.load(cfg),
            s2mel=s2mel,
            vocoder=load_bigvgan(cfg).to(device),
            mode=mode,
        )

    @classmethod
    def build(
        cls,
        *,
        tokenizer: TextTokenizer | None,
        conditioner: VoiceConditioner,
        gpt: UnifiedVoice,
        emotions: EmotionMatrices,
        s2mel: S2Mel,
        vocoder: BigVGAN,
        mode: Mode,
    ) -> Pipeline:
        """Assemble float32 networks and cast or quantise them, in place, for ``mode``.

        (``__init__`` takes networks as they are, e.g. to share prepared ones under other flow settings.)
        """
        if mode.gpt == "int8":
            quantize_int8(gpt)
        elif mode.gpt_autocast is not None:
            # Store the decode loop's matrices in half precision so autocast casts activations only (it
            # does not cache weight casts of frozen parameters and would re-cast the stack every step);
            # norms keep float32 parameters, which autocast's layer_norm expects.
            for module in [*gpt.gpt.modules(), gpt.mel_head]:
                if isinstance(module, nn.Linear):
                    module.to(mode.gpt_autocast)
        elif mode.gpt != "float32":
            raise ValueError(f"unknown GPT mode {mode.gpt!r}")
        s2mel.dit.to(mode.dit_dtype)
        vocoder.cast_convolutions(mode.vocoder_dtype)
        return cls(tokenizer, conditioner, gpt, emotions, s2mel, vocoder, mode)

    @property
    def device(self) -> torch.device:
        return self.conditioner.device

    @property
    def sampling_rate(self) -> int:
        return self.conditioner.sampling_rate

    # -- voice ----------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def prepare_voice(self, speaker: str | Path, emotion: str | Path | None = None) -> VoicePrompt:
        """Condition on a speaker clip and an optional emotion clip (both files), as the reference loads them.

        The speaker clip is read at 22.05 kHz (libsoxr HQ unless it already is) and cut to 15 s; the emotion
        clip (the speaker file when none is given) is read again straight at 16 kHz. FAST mode skips that
        second read for the speaker's own file and reuses the speaker features.
        """
        audio_22k = audio.load_voice_clip(speaker, self.sampling_rate)
        emotion_file = emotion if emotion is not None else speaker
        emo_16k = None
        if emotion is not None or self.mode.separate_emotion_pass:
            emo_16k = audio.load_voice_clip(emotion_file, self.conditioner.w2v_bert.sampling_rate)
        return self.prepare_voice_audio(audio_22k, emo_16k, has_emotion_clip=emotion is not None)

    @torch.inference_mode()
    def prepare_voice_audio(
        self, audio_22k: Tensor, emo_audio_16k: Tensor | None, *, has_emotion_clip: bool
    ) -> VoicePrompt:
        """:meth:`prepare_voice` from samples already at the right rates ([1, N22], [1, Ne] or None).

        Without an emotion clip every blend of the two emotion vectors uses alpha 1, where the speaker clip's
        own vector only enters through rounding (``spk + (emo − spk)``, within an ulp of ``emo``); the reference
        still computes it (one more emotion encoder pass, ~15 GMAC at full size), here the emotion clip's
        vector stands in for it.
        """
        cond = self.conditioner(audio_22k.to(self.device), emo_audio_16k)
        spk, emo = cond.spk_cond_emb, cond.emo_cond_emb
        emovec_emo = self.gpt.emotion_vector(emo, reference_lengths(emo))
        return VoicePrompt(
            audio_22k=audio_22k,
            emo_audio_16k=emo_audio_16k,
            conditioning=cond,
            speaker_latents=self.gpt.speaker_latents(spk, reference_lengths(spk)),
            emovec_spk=self.gpt.emotion_vector(spk, reference_lengths(spk)) if has_emotion_clip else emovec_emo,
            emovec_emo=emovec_emo,
            has_emotion_clip=has_emotion_clip,
        )

    # -- text -----------------------------------------------------------------------------------------------

    def segments(self, text: str, max_tokens: int) -> list[list[str]]:
        """The text's SentencePiece pieces split into segments of at most ``max_tokens`` (reference rules)."""
        if self.tokenizer is None:
            raise InvalidRequest("this pipeline has no tokenizer; give token ids (stream_ids)")
        return split_segments(self.tokenizer.tokenize(text), max_tokens)

    # -- synthesis ------------------------------------------------------------------------------------------

    def stream(self, voice: VoicePrompt, request: Request) -> Iterator[Segment]:
        """Synthesise segment by segment, yielding each as soon as its waveform is computed."""
        segments = self.segments(request.text, request.max_text_tokens_per_segment)
        assert self.tokenizer is not None  # segments() checked
        yield from self._stream([(pieces, self.tokenizer.ids(pieces)) for pieces in segments], voice, request)

    def stream_ids(self, voice: VoicePrompt, segments: Sequence[Sequence[int]], request: Request) -> Iterator[Segment]:
        """:meth:`stream` from token ids already split into segments (``request.text`` is not read)."""
        yield from self._stream([([], list(ids)) for ids in segments], voice, request)

    def _stream(
        self, segments: list[tuple[list[str], list[int]]], voice: VoicePrompt, request: Request
    ) -> Iterator[Segment]:
        if not segments:
            raise InvalidRequest("the text has nothing to say")
        if request.noise is not None and len(request.noise) != len(segments):
            raise InvalidRequest(f"{len(request.noise)} noise tensors for {len(segments)} segments")
        emovec_merged, mix = self._emotion(voice, request)
        spoken = (
            self._codes(voice, request, index, pieces, ids, emovec_merged, mix)
            for index, (pieces, ids) in enumerate(segments)
        )
        if request.target_seconds is None:
            # Stream: each segment's audio before the next segment's codes.
            silence = self.silence(request.interval_silence_ms, request.length_scale)
            for codes in spoken:
                yield self._render(voice, request, codes, request.length_scale, silence if codes.index else 0)
            return
        every = list(spoken)
        natural = [int(self.s2mel.target_length(c.codes.shape[1])) for c in every]
        frames, silence = self._fit(natural, request.target_seconds, request.interval_silence_ms)
        for codes, n, f in zip(every, natural, frames, strict=True):
            # f / n scales back to exactly f frames in S2Mel.target_length (n, f are small integers).
            yield self._render(voice, request, codes, f / n, silence if codes.index else 0)

    def _fit(self, natural_frames: list[int], target_seconds: float, interval_silence_ms: int) -> tuple[list[int], int]:
        """Mel frames per segment and the silence between segments (samples) that make ``target_seconds``.

        The ratio ``target / natural`` (natural = segments' natural frames and the unscaled silences) must be
        within 0.5×–2×; the silences are scaled by it and the frames left are shared out in proportion to the
        segments' natural frames, so the total is within half a mel frame of the target plus one sample per
        silence, and each segment within one frame of its proportional share.
        """
        hop = self.vocoder.args.hop_size
        gaps = len(natural_frames) - 1
        natural = sum(natural_frames) * hop + gaps * self.silence(interval_silence_ms)
        target = round(target_seconds * self.sampling_rate)
        ratio = target / natural
        check_ratio(
            ratio,
            f"a {target_seconds:g} s target for {natural / self.sampling_rate:.2f} s of speech needs a ratio that",
        )
        silence = self.silence(interval_silence_ms, ratio)
        total = max(len(natural_frames), round((target - gaps * silence) / hop))
        return share(total, natural_frames), silence

    def synthesize(self, voice: VoicePrompt, request: Request) -> Synthesis:
        """All segments joined with ``interval_silence_ms`` of zeros (times the length ratio) between them."""
        return self.join(list(self.stream(voice, request)))

    def join(self, segments: list[Segment]) -> Synthesis:
        """Segments' waveforms, each after its ``silence_before`` zeros."""
        pieces = [p for s in segments for p in (torch.zeros(1, s.silence_before), s.wav) if p.shape[-1]]
        return Synthesis(wav=torch.cat(pieces, dim=1), segments=segments, sampling_rate=self.sampling_rate)

    def silence(self, interval_silence_ms: int, ratio: float = 1.0) -> int:
        """Samples of silence between segments: ``int(rate · ms / 1000)`` as the reference, times ``ratio``."""
        return int(self.sampling_rate * interval_silence_ms / 1000.0 * ratio)

    def _emotion(self, voice: VoicePrompt, request: Request) -> tuple[Tensor, EmotionMix | None]:
        """The merged emotion vector and the optional 8-value mix (the same for every segment).

        As in the reference an emotion vector overrides the emotion clip, and without a separate emotion
        clip the blend uses alpha 1 (the emotion clip *is* the speaker clip).
        """
        if request.emo_vector is None:
            alpha = request.emo_alpha if voice.has_emotion_clip else 1.0
            return blend(voice.emovec_spk, voice.emovec_emo, alpha), None
        if voice.has_emotion_clip:
            raise InvalidRequest("an emotion vector replaces the emotion clip: prepare the voice without one")
        merged = blend(voice.emovec_spk, voice.emovec_emo, 1.0)
        return merged, mix_emotions(request.emo_vector, request.emo_alpha, voice.conditioning.style, self.emotions)

    @torch.inference_mode()
    def _codes(
        self,
        voice: VoicePrompt,
        request: Request,
        index: int,
        tokens: list[str],
        ids: list[int],
        emovec_merged: Tensor,
        mix: EmotionMix | None,
    ) -> SegmentCodes:
        """The GPT half of a segment: generated codes and the teacher-forced latent."""
        device = self.device
        text_ids = torch.tensor([ids], dtype=torch.int32, device=device)
        emovec = mix.apply(emovec_merged) if mix is not None else emovec_merged
        autocast = self.mode.gpt_autocast
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            prompt = self.gpt.generation_prompt(voice.speaker_latents, emovec, text_ids)
            generation = generate(self.gpt, prompt, request.decoding, request.generator)
            codes_raw = generation.codes[None]
            codes = codes_before_stop(codes_raw[0], self.gpt.config.stop_mel_token)[None]
            if codes.shape[1] == 0:
                raise InvalidRequest(f"segment {index} produced no speech codes (the GPT stopped at once)")
            if self.gpt.prompt_starts_forward(text_ids):
                latent = self.gpt.latents_after_prompt(
                    codes, generation.cache, generation.prompt_length, generation.prompt_hidden
                )
            else:
                latent = self.gpt(voice.speaker_latents, text_ids, codes, emovec)
            latent = latent.float()
        return SegmentCodes(
            index=index,
            tokens=tokens,
            text_ids=text_ids,
            emovec_merged=emovec_merged,
            emovec=emovec,
            codes_raw=codes_raw,
            codes=codes,
            latent=latent,
        )

    @torch.inference_mode()
    def _render(
        self, voice: VoicePrompt, request: Request, spoken: SegmentCodes, length_scale: float, silence_before: int
    ) -> Segment:
        """The acoustic half: s2mel at ``length_scale`` times the natural length, then BigVGAN."""
        cond = voice.conditioning
        device = self.device
        code_count = spoken.codes.shape[1]
        if request.noise is not None:
            noise = request.noise[spoken.index]
        else:
            shape = self.s2mel.noise_shape(cond.ref_mel.shape[-1], code_count, length_scale)
            generator = request.generator or torch.Generator(device=device).manual_seed(spoken.index)
            noise = initial_noise(shape, generator, device=device)
        mel = self.s2mel(
            latent=spoken.latent,
            code_embedding=self.conditioner.codec.vq2emb(spoken.codes),
            prompt_condition=cond.prompt_condition,
            ref_mel=cond.ref_mel,
            style=cond.style,
            noise=noise.to(device),
            settings=self.mode.flow,
            length_scale=length_scale,
        )
        vocoder_out = self.vocoder(mel.mel)
        return Segment(
            **vars(spoken),
            s2mel=mel,
            vocoder_out=vocoder_out,
            wav=torch.clamp(INT16_PEAK * vocoder_out.squeeze(1), -INT16_PEAK, INT16_PEAK).cpu(),
            silence_before=silence_before,
        )


def share(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to positive integer ``weights`` (largest remainders, exact integer
    arithmetic), each part at least 1: every part is within one of its exact share, and they sum to ``total``
    unless the minimum of 1 had to lift a part."""
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return [max(1, p) for p in parts]
