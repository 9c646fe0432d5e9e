"""Adapters for the GPT components: gpt_conditioning, emotion_vector, gpt_forward, gpt_generate.

Each calls the engine's own UnifiedVoice, emotion and generation code on a case's inputs, the way
``infer_generator`` calls the reference: conditioning lengths as the case gives them, the emotion vector
supplied, deterministic decoding with the case's beam count, penalties and length cap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from tts_engine.conformance.bundle import Bundle, Case
from tts_engine.emotion import EmotionMatrices, blend, mix_emotions
from tts_engine.generation import DecodingOptions, codes_before_stop, generate
from tts_engine.networks.gpt import UnifiedVoice, reference_lengths

__all__ = ["ADAPTERS"]


def _gpt(bundle: Bundle) -> UnifiedVoice:
    return bundle.cached("gpt.unified_voice", lambda: UnifiedVoice.load(bundle.config))


@torch.inference_mode()
def gpt_conditioning(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    gpt = _gpt(bundle)
    spk, emo = case.input("spk_cond_emb"), case.input("emo_cond_emb")
    spk_lengths, emo_lengths = case.input("cond_lengths"), case.input("emo_cond_lengths")
    spk_vector = gpt.emotion_vector(spk, spk_lengths)
    emo_vector = gpt.emotion_vector(emo, emo_lengths)
    outputs: dict[str, Any] = {
        "speech_conditioning_latent": gpt.speaker_latents(spk, spk_lengths),
        "emovec_spk": spk_vector,
        "emovec_emo": emo_vector,
    }
    for name, alpha in zip(case.args["merged_names"], case.args["alphas"], strict=True):
        outputs[name] = blend(spk_vector, emo_vector, alpha)
    return outputs


@torch.inference_mode()
def emotion_vector(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    if case.args.get("use_random", False):
        raise ValueError("use_random draws rows at random; only the deterministic path is specified")
    matrices = bundle.cached("gpt.emotion_matrices", lambda: EmotionMatrices.load(bundle.config))
    mix = mix_emotions(case.input("emo_vector"), case.input("emo_alpha"), case.input("style"), matrices)
    return {
        "emo_vector_scaled": mix.weights,
        "indices": mix.indices,
        "emovec_mat": mix.vector,
        "emovec_final": mix.apply(case.input("emovec")),
    }


@torch.inference_mode()
def gpt_forward(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    latent = _gpt(bundle)(
        case.input("speech_conditioning_latent"), case.input("text_tokens"), case.input("codes"), case.input("emovec")
    )
    return {"latent": latent}


@torch.inference_mode()
def gpt_generate(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    gpt = _gpt(bundle)
    args = case.args
    if args["do_sample"]:
        raise ValueError("sampled generation is not reproducible across engines; only do_sample=False is specified")
    spk = case.input("spk_cond_emb")
    latents = gpt.speaker_latents(spk, reference_lengths(spk))
    prompt = gpt.generation_prompt(latents, case.input("emovec"), case.input("text_tokens"))
    options = DecodingOptions(
        max_new_tokens=int(args["max_generate_length"]),
        num_beams=int(args["num_beams"]),
        repetition_penalty=float(args["repetition_penalty"]),
        length_penalty=float(args["length_penalty"]),
    )
    codes = generate(gpt, prompt, options).codes
    return {
        "codes": codes[None],
        "speech_conditioning_latent": latents,
        "code_len": len(codes_before_stop(codes, gpt.config.stop_mel_token)),
    }


ADAPTERS: dict[str, Callable[[Bundle, Case], Mapping[str, Any]]] = {
    "gpt_conditioning": gpt_conditioning,
    "emotion_vector": emotion_vector,
    "gpt_forward": gpt_forward,
    "gpt_generate": gpt_generate,
}
