"""Adapters for the text and audio front ends: ``text_normalize``, ``text_tokenize`` and ``mel``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tts_engine.audio import mel_spectrogram
from tts_engine.config import MelConfig
from tts_engine.conformance.bundle import Bundle, Case
from tts_engine.text import TextNormalizer, TextTokenizer, split_segments


def _tokenizer(bundle: Bundle) -> TextTokenizer:
    return bundle.cached("text.tokenizer", lambda: TextTokenizer(bundle.config.bpe_model, TextNormalizer()))


def text_normalize(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    return {"normalized": _tokenizer(bundle).normalizer.normalize(case.input("text"))}


def text_tokenize(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    tokenizer = _tokenizer(bundle)
    text = case.input("text")
    normalized, spaced = tokenizer.prepare(text)
    tokens = tokenizer.tokenize(text)
    quick = int(case.args.get("quick_streaming_tokens", 0))
    segments = {str(m): split_segments(tokens, int(m), quick) for m in case.input("max_text_tokens_per_segment")}
    return {
        "normalized": normalized,
        "cjk_spaced": spaced,
        "tokens": tokens,
        "ids": tokenizer.ids(tokens),
        "segments": segments,
        "segment_ids": {m: [tokenizer.ids(s) for s in segs] for m, segs in segments.items()},
    }


def mel(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    """The case's arguments name the mel settings; they must be those of the bundle's config.yaml."""
    cfg = bundle.config.mel
    args = case.args
    asked = MelConfig(
        sampling_rate=args["sampling_rate"],
        n_fft=args["n_fft"],
        num_mels=args["num_mels"],
        hop_size=args["hop_size"],
        win_size=args["win_size"],
        fmin=float(args["fmin"]),
        fmax=None if args["fmax"] is None else float(args["fmax"]),
    )
    if asked != cfg:
        raise ValueError(f"case asks for {asked}, the model's config.yaml gives {cfg}")
    with torch.no_grad():
        return {"mel": mel_spectrogram(case.input("audio"), cfg)}


ADAPTERS = {"text_normalize": text_normalize, "text_tokenize": text_tokenize, "mel": mel}
