"""Adapters for the voice-conditioning components: fbank_style, semantic_features, semantic_codec, length_regulator.

Each runs one stage of :mod:`tts_engine.conditioning` on a case's inputs, with the networks loaded once per run
from the bundle's model folder by the engine's own loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from tts_engine import audio
from tts_engine.conditioning import load_campplus, load_length_regulator, load_semantic_codec, load_w2v_bert
from tts_engine.conformance.bundle import Bundle, Case
from tts_engine.networks.campplus import CAMPPlus
from tts_engine.networks.length_regulator import LengthRegulator
from tts_engine.networks.semantic_codec import SemanticCodec
from tts_engine.networks.w2v_bert import W2vBert

__all__ = ["ADAPTERS"]


def _campplus(bundle: Bundle) -> CAMPPlus:
    return bundle.cached("conditioning.campplus", lambda: load_campplus(bundle.config))


def _w2v_bert(bundle: Bundle) -> W2vBert:
    return bundle.cached("conditioning.w2v_bert", lambda: load_w2v_bert(bundle.config))


def _codec(bundle: Bundle) -> SemanticCodec:
    return bundle.cached("conditioning.semantic_codec", lambda: load_semantic_codec(bundle.config))


def _length_regulator(bundle: Bundle) -> LengthRegulator:
    return bundle.cached("conditioning.length_regulator", lambda: load_length_regulator(bundle.config))


@torch.inference_mode()
def fbank_style(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    campplus = _campplus(bundle)
    fbank = audio.kaldi_fbank(case.input("audio16k"), num_mel_bins=campplus.config.feat_dim)
    return {"fbank": fbank, "style": campplus(fbank.unsqueeze(0))}


@torch.inference_mode()
def semantic_features(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    w2v_bert = _w2v_bert(bundle)
    input_features, attention_mask = w2v_bert.features(case.input("audio16k"))
    hidden = w2v_bert(input_features, attention_mask)
    return {
        "input_features": input_features,
        "attention_mask": attention_mask,
        f"hidden_state_{bundle.config.constants.w2v_hidden_layer}": hidden,
        "emb": w2v_bert.normalise(hidden),
    }


@torch.inference_mode()
def semantic_codec(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    codec = _codec(bundle)
    method = case.args["method"]
    if method == "quantize":
        codes, s = codec.quantize(case.input("emb"))
        return {"codes": codes, "S": s}
    if method == "vq2emb":
        return {"S": codec.vq2emb(case.input("codes"))}
    raise ValueError(f"unknown semantic_codec method {method!r}")


@torch.inference_mode()
def length_regulator(bundle: Bundle, case: Case) -> Mapping[str, Any]:
    return {"cond": _length_regulator(bundle)(case.input("S"), case.input("ylens"))}


ADAPTERS: dict[str, Callable[[Bundle, Case], Mapping[str, Any]]] = {
    "fbank_style": fbank_style,
    "semantic_features": semantic_features,
    "semantic_codec": semantic_codec,
    "length_regulator": length_regulator,
}
