"""IndexTTS-2's networks with random weights at sane scales, built on the meta device: no model files needed.

Speed does not depend on the weights' values, so the benches (``tts_core.py``, ``tts_gpt.py``) and the writer of
random full-size model folders (``model_folder.py``) build every network on the ``meta`` device and fill it here
in place: far faster than the modules' default initialisation (which would first fill 1.7 billion parameters
with values thrown away), and the same scales everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain
from typing import TypeVar

import torch
from torch import nn
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig

from tts_engine.config import ModelConfig
from tts_engine.emotion import EmotionMatrices
from tts_engine.loading import on_meta
from tts_engine.networks.bigvgan import AliasFreeSnakeBeta, kaiser_sinc_filter
from tts_engine.networks.conformer import SinusoidTable
from tts_engine.networks.layers import TimestepEmbedding
from tts_engine.networks.w2v_bert import read_hf_config

__all__ = ["W2V_BERT_FOLDER", "fill_random", "random_emotion_matrices", "random_network", "w2v_bert_architecture"]

M = TypeVar("M", bound=nn.Module)
W2V_BERT_FOLDER = "hf_cache/w2v-bert-2.0"


def fill_random(model: nn.Module, generator: torch.Generator) -> None:
    """Materialise a meta-built module with random values at sane scales, in place.

    Matrices: N(0, 1/fan_in) (unit gain, so deep stacks neither vanish nor overflow); norm gains 1; biases and
    log-scale Snake parameters 0; BatchNorm statistics 0 / 1; then the deterministic buffers are recomputed
    (positions, sinusoid tables, timestep frequencies, anti-aliasing filters).
    """
    model.to_empty(device="cpu")
    with torch.no_grad():
        for name, tensor in chain(model.named_parameters(), model.named_buffers()):
            if not tensor.is_floating_point():
                tensor.zero_()
            elif tensor.dim() >= 2:
                tensor.normal_(0.0, 1.0 / math.sqrt(tensor[0].numel()), generator=generator)
            elif name.endswith(("running_var", "weight", "gamma")):
                tensor.fill_(1.0)
            else:
                tensor.zero_()
        for module in model.modules():
            if isinstance(module, SinusoidTable):
                module.pe.copy_(SinusoidTable(module.pe.shape[1], module.pe.shape[2]).pe)
            elif isinstance(module, TimestepEmbedding):
                half = module.freqs.shape[0]
                module.freqs.copy_(torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half))
            elif isinstance(module, AliasFreeSnakeBeta):
                lowpass = kaiser_sinc_filter(0.5 / module.ratio, 0.6 / module.ratio, module.upsample_filter.shape[-1])
                module.upsample_filter.copy_(lowpass)
                module.downsample_filter.copy_(lowpass)
            elif hasattr(module, "input_pos"):
                module.input_pos.copy_(torch.arange(module.input_pos.shape[0]))


def random_network(factory: Callable[[], M], generator: torch.Generator) -> M:
    """``factory()`` built on the meta device, filled by :func:`fill_random`, frozen, in eval mode."""
    model = on_meta(factory)
    fill_random(model, generator)
    return model.eval().requires_grad_(False)


def w2v_bert_architecture(cfg: ModelConfig) -> tuple[Wav2Vec2BertConfig, SeamlessM4TFeatureExtractor]:
    """The w2v-BERT configuration and feature extractor of ``cfg``'s folder, when it has them; otherwise
    facebook/w2v-bert-2.0's, which are transformers' defaults (the official configuration's data folder holds
    no w2v-BERT files, and ``config.yaml`` does not describe that network)."""
    folder = cfg.file(W2V_BERT_FOLDER)
    if not (folder / "config.json").is_file():
        return Wav2Vec2BertConfig(), SeamlessM4TFeatureExtractor(padding_value=1.0)
    return read_hf_config(folder), SeamlessM4TFeatureExtractor.from_pretrained(folder, local_files_only=True)


def random_emotion_matrices(cfg: ModelConfig, generator: torch.Generator) -> EmotionMatrices:
    """``feat1.pt`` / ``feat2.pt`` rows: speaker styles N(0, 1), emotion vectors N(0, 0.01) (the GPT's width)."""
    groups = list(cfg.emo_num)
    speaker = torch.randn(sum(groups), cfg.get("s2mel.style_encoder.dim", int), generator=generator)
    emotion = 0.1 * torch.randn(sum(groups), cfg.get("gpt.model_dim", int), generator=generator)
    return EmotionMatrices(speaker=speaker.split(groups), emotion=emotion.split(groups))
