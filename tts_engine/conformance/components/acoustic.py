"""Adapters for the acoustic components: s2mel, vocoder and the whole pipeline (end_to_end).

Networks are loaded once per run with the engine's own loaders from the bundle's model folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import soundfile
import torch

from tts_engine import audio
from tts_engine.conditioning import load_semantic_codec
from tts_engine.conformance.bundle import Bundle, Case
from tts_engine.flow import FlowSettings
from tts_engine.generation import DecodingOptions
from tts_engine.networks.bigvgan import BigVGAN, load_bigvgan
from tts_engine.networks.semantic_codec import SemanticCodec
from tts_engine.pipeline import EXACT, Pipeline, Request, Segment, VoicePrompt
from tts_engine.s2mel import S2Mel, load_s2mel

__all__ = ["ADAPTERS"]


def _s2mel(bundle: Bundle) -> S2Mel:
    return bundle.cached("acoustic.s2mel", lambda: load_s2mel(bundle.config))


def _codec(bundle: Bundle) -> SemanticCodec:
    return bundle.cached("acoustic.semantic_codec", lambda: load_semantic_codec(bundle.config))


def _bigvgan(bundle: Bundle) -> BigVGAN:
    return bundle.cached("acoustic.bigvgan", lambda: load_bigvgan(bundle.config))


@torch.inference_mode()
def s2mel(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    model = _s2mel(bundle)
    codes = case.input("codes")
    if int(case.input("code_lens")) != codes.shape[1]:
        raise ValueError("the s2mel stage takes exactly the codes it synthesises (code_lens == codes length)")
    settings = FlowSettings(steps=case.args["diffusion_steps"], cfg_rate=case.args["inference_cfg_rate"])
    out = model(
        latent=case.input("latent"),
        code_embedding=_codec(bundle).vq2emb(codes),
        prompt_condition=case.input("prompt_condition"),
        ref_mel=case.input("ref_mel"),
        style=case.input("style"),
        noise=case.input("noise"),
        settings=settings,
    )
    return {
        "gpt_layer_latent": out.gpt_layer_latent,
        "S_infer": out.content,
        "target_lengths": out.target_length,
        "cond": out.cond,
        "mel": out.mel,
    }


@torch.inference_mode()
def vocoder(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    return {"wav": _bigvgan(bundle)(case.input("mel")).squeeze(1)}


def _write_wav(folder: Path, name: str, samples: torch.Tensor, rate: int) -> Path:
    """The case's clip as the 16-bit PCM file the reference read (its samples are exactly int16 / 32768)."""
    path = folder / f"{name}.wav"
    soundfile.write(path, samples[0].numpy(), rate, subtype="PCM_16")
    return path


@torch.inference_mode()
def end_to_end(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    """``infer`` free-running from the case's clips and text, with the recorded flow noise per segment."""
    args = case.args
    if args["do_sample"]:
        raise ValueError("sampled generation is not reproducible across engines; only do_sample=False is specified")
    pipeline = bundle.cached("acoustic.pipeline", lambda: Pipeline.load(bundle.config, mode=EXACT))
    noise = [case.input(name) for name in case.input_names if name.startswith("noise_seg")]
    request = Request(
        text=case.input("text"),
        emo_alpha=float(args["emo_alpha"]),
        emo_vector=args["emo_vector"],
        max_text_tokens_per_segment=int(args["max_text_tokens_per_segment"]),
        interval_silence_ms=int(args["interval_silence_ms"]),
        decoding=DecodingOptions(
            max_new_tokens=int(args["max_mel_tokens"]),
            num_beams=int(args["num_beams"]),
            repetition_penalty=float(args["repetition_penalty"]),
            length_penalty=float(args["length_penalty"]),
        ),
        noise=noise,
    )
    with tempfile.TemporaryDirectory() as tmp:
        speaker = _write_wav(Path(tmp), "speaker", case.input("spk_audio"), case.input("spk_sample_rate"))
        emotion = None
        if case.has_input("emo_audio"):
            emotion = _write_wav(Path(tmp), "emotion", case.input("emo_audio"), case.input("emo_sample_rate"))
        voice = pipeline.prepare_voice(speaker, emotion)
    result = pipeline.synthesize(voice, request)
    return {**_voice_intermediates(pipeline, voice), **_segment_intermediates(voice, result.segments)} | {
        "wav": result.wav,
        "wav_int16": result.wav_int16,
        "sampling_rate": result.sampling_rate,
        "num_segments": len(result.segments),
        "segment_tokens": [segment.tokens for segment in result.segments],
    }


def _voice_intermediates(pipeline: Pipeline, voice: VoicePrompt) -> dict[str, Any]:
    """The voice stage's intermediates; the 16 kHz audio, w2v-BERT inputs and fbank are recomputed with the
    same functions the conditioner used (it does not keep them)."""
    cond = voice.conditioning
    w2v_bert = pipeline.conditioner.w2v_bert
    spk_16k = pipeline.conditioner.to_16k(voice.audio_22k)
    emo_16k = voice.emo_audio_16k if voice.emo_audio_16k is not None else spk_16k
    spk_features, spk_mask = w2v_bert.features(spk_16k)
    emo_features, emo_mask = w2v_bert.features(emo_16k)
    return {
        "audio_22k": voice.audio_22k,
        "spk_audio_16k": spk_16k,
        "emo_audio_16k": emo_16k,
        "spk_input_features": spk_features,
        "spk_attention_mask": spk_mask,
        "spk_cond_emb": cond.spk_cond_emb,
        "emo_input_features": emo_features,
        "emo_attention_mask": emo_mask,
        "emo_cond_emb": cond.emo_cond_emb,
        "S_ref_codes": cond.s_ref_codes,
        "S_ref": cond.s_ref,
        "ref_mel": cond.ref_mel,
        "fbank": audio.kaldi_fbank(spk_16k),
        "style": cond.style,
        "prompt_condition": cond.prompt_condition,
    }


def _segment_intermediates(voice: VoicePrompt, segments: list[Segment]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for seg in segments:
        k = f"seg{seg.index}_"
        out |= {
            f"{k}text_tokens": seg.text_ids,
            f"{k}emovec": seg.emovec,
            f"{k}codes_raw": seg.codes_raw,
            f"{k}codes": seg.codes,
            f"{k}speech_conditioning_latent": voice.speaker_latents,
            f"{k}latent": seg.latent,
            f"{k}gpt_layer_latent": seg.s2mel.gpt_layer_latent,
            f"{k}cond": seg.s2mel.cond,
            f"{k}mel": seg.s2mel.mel,
            f"{k}vocoder_out": seg.vocoder_out,
            f"{k}wav_scaled": seg.wav,
            f"emovec_merged_seg{seg.index}": seg.emovec_merged,
        }
    return out


ADAPTERS: dict[str, Callable[[Bundle, Case], Mapping[str, Any]]] = {
    "s2mel": s2mel,
    "vocoder": vocoder,
    "end_to_end": end_to_end,
}
