"""w2v-BERT 2.0 semantic features: 16 kHz audio → normalised hidden states of one encoder layer.

IndexTTS-2 conditions its GPT (speaker and emotion) and, through the semantic codec, its s2mel decoder on the
output of w2v-BERT 2.0's 17th conformer layer, standardised with the mean and variance in
``wav2vec2bert_stats.pt``. This module is an adapter, not a reimplementation: the model is transformers'
``Wav2Vec2BertModel`` and the front end its ``SeamlessM4TFeatureExtractor`` (80-bin Kaldi-style fbank in NumPy,
per-utterance normalisation, frame pairs stacked to 160-d; odd frame counts get one padding frame whose stacked
frame is masked out), both loaded from the model folder's ``save_pretrained`` files without network access.

Only the layers up to the one IndexTTS reads are kept: the full model has 24 and the reference computes all of
them and discards 7. The weights of every layer are still loaded, strictly, so a wrong or truncated file is
reported, and then the unused layers are dropped. The layer's output is read from the encoder directly, which
is what ``hidden_states[k]`` of the whole model is (index 0 is the input of the first layer and no norm follows
the layers).

Shapes: ``B`` clips (one, or a voice's speaker and emotion clips together), ``N`` samples, ``T`` feature frames
(one per 20 ms), ``D`` hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

from tts_engine.errors import ModelFolderError
from tts_engine.loading import load_strict, on_meta, read_tensors

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class W2vBertConfig:
    """Where w2v-BERT and its statistics live and which hidden state IndexTTS reads.

    The network's own sizes are transformers' business: they come from ``config.json`` in ``folder``.
    """

    folder: Path
    stats_file: Path
    hidden_layer: int

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> W2vBertConfig:
        return cls(
            folder=cfg.file("hf_cache/w2v-bert-2.0"),
            stats_file=cfg.file(cfg.get("w2v_stat", str)),
            hidden_layer=cfg.constants.w2v_hidden_layer,
        )


def read_hf_config(folder: Path) -> Wav2Vec2BertConfig:
    """``config.json`` of a ``save_pretrained`` folder, as transformers parses it."""
    try:
        return Wav2Vec2BertConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot read the w2v-BERT configuration: {exc}", file=folder / "config.json") from exc


def build_model(hf_config: Wav2Vec2BertConfig) -> Wav2Vec2BertModel:
    """The whole model, all layers, on the meta device (no memory until the weights are assigned)."""
    return on_meta(lambda: Wav2Vec2BertModel(hf_config))


class W2vBert(nn.Module):
    """The feature extractor, the encoder cut after ``hidden_layer`` layers, and the feature statistics."""

    def __init__(
        self, model: Wav2Vec2BertModel, extractor: SeamlessM4TFeatureExtractor, mean: Tensor, var: Tensor
    ) -> None:
        super().__init__()
        self.model = model
        self.extractor = extractor
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", torch.sqrt(var), persistent=False)

    @classmethod
    def load(cls, config: W2vBertConfig) -> W2vBert:
        """Load the model folder's w2v-BERT strictly, keep its first ``config.hidden_layer`` layers, in eval mode."""
        hf_config = read_hf_config(config.folder)
        if not 1 <= config.hidden_layer <= hf_config.num_hidden_layers:
            raise ModelFolderError(
                f"hidden state {config.hidden_layer} requested but the model has {hf_config.num_hidden_layers} layers",
                file=config.folder / "config.json",
                key="num_hidden_layers",
            )
        model = build_model(hf_config)
        weights = config.folder / WEIGHTS_FILE
        load_strict(model, read_tensors(weights), source=str(weights))
        model.encoder.layers = model.encoder.layers[: config.hidden_layer]
        try:
            extractor = SeamlessM4TFeatureExtractor.from_pretrained(config.folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(
                f"cannot read the feature extractor configuration: {exc}",
                file=config.folder / "preprocessor_config.json",
            ) from exc
        stats = read_tensors(config.stats_file)
        hidden = hf_config.hidden_size
        for key in ("mean", "var"):
            if key not in stats or tuple(stats[key].shape) != (hidden,):
                raise ModelFolderError(f"expected a [{hidden}] tensor", file=config.stats_file, key=key)
        return cls(model, extractor, stats["mean"], stats["var"]).eval()

    @property
    def sampling_rate(self) -> int:
        """The audio rate the feature extractor is configured for (16 kHz); inputs must already be at it."""
        return int(self.extractor.sampling_rate)

    def features(self, audio_16k: Tensor) -> tuple[Tensor, Tensor]:
        """The SeamlessM4T front end on ``[B, N]`` audio (B clips of one length, so nothing is padded):
        ``input_features`` ``[B, T, 160]`` (float32) and ``attention_mask`` ``[B, T]`` (int32), on the model's
        device. It runs in NumPy on the CPU, each clip normalised on its own."""
        if audio_16k.dim() != 2:
            raise ValueError(f"expected clips [B, N], got {tuple(audio_16k.shape)}")
        samples = list(audio_16k.detach().to("cpu", torch.float32).numpy())
        out = self.extractor(samples, sampling_rate=self.sampling_rate, return_attention_mask=True, return_tensors="pt")
        device = self.mean.device
        return out["input_features"].to(device), out["attention_mask"].to(device)

    def forward(self, input_features: Tensor, attention_mask: Tensor) -> Tensor:
        """Output of the last kept encoder layer, ``[B, T, D]``, before normalisation."""
        hidden, _ = self.model.feature_projection(input_features)
        return self.model.encoder(hidden, attention_mask=attention_mask).last_hidden_state

    def normalise(self, hidden: Tensor) -> Tensor:
        """Standardise hidden states with the stored statistics: ``(h − mean) / sqrt(var)``."""
        return (hidden - self.mean) / self.std

    def embed(self, audio_16k: Tensor) -> Tensor:
        """16 kHz audio ``[B, N]`` → normalised semantic features ``[B, T, D]`` (``spk_cond_emb``/``emo_cond_emb``)."""
        return self.normalise(self(*self.features(audio_16k)))
