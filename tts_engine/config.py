"""The model configuration: the official ``config.yaml`` of a model folder, read once and frozen.

IndexTTS-2 describes most of its sizes in ``config.yaml``, but the reference code hard-codes a few (the 1024-wide
semantic features, the 1280→256→128→1024 ``gpt_layer``, CAMPPlus's constructor defaults, the w2v-BERT layer it
reads). :class:`ReferenceConstants` holds those, with the released model's values as defaults, replaced by a
``tiny_overrides`` section where a (test) configuration has one. Each network reads its own sizes from a
:class:`ModelConfig` in its config dataclass's ``from_model_config``, so no module here knows a network's layout.

The raw YAML is kept as a read-only mapping (nested mappings are read-only too, lists become tuples), so a
configuration can be shared between networks without anyone changing it under the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from tts_engine.errors import ModelFolderError

__all__ = [
    "CONFIG_FILE",
    "CampplusDims",
    "MelConfig",
    "ModelConfig",
    "ReferenceConstants",
    "load_config",
    "official_config",
]

CONFIG_FILE = "config.yaml"
OFFICIAL_CONFIG = Path(__file__).parent / "data" / "official_config.yaml"
SUPPORTED_VERSION = 2.0
# Sections and values every IndexTTS-2 config.yaml has; checked at load time so that a folder from another
# version (IndexTTS 1.x has no ``s2mel``) fails here, naming the key, rather than inside a network.
REQUIRED_KEYS = (
    "gpt.model_dim",
    "gpt.layers",
    "gpt.heads",
    "gpt.condition_module",
    "gpt.emo_condition_module",
    "semantic_codec.codebook_size",
    "s2mel.preprocess_params.sr",
    "s2mel.preprocess_params.spect_params",
    "s2mel.DiT",
    "s2mel.wavenet",
    "s2mel.length_regulator",
    "s2mel.style_encoder.dim",
    "dataset.bpe_model",
    "gpt_checkpoint",
    "s2mel_checkpoint",
    "w2v_stat",
    "emo_matrix",
    "spk_matrix",
    "emo_num",
)

T = TypeVar("T")


@dataclass(frozen=True)
class CampplusDims:
    """CAMPPlus constructor arguments; the reference passes only ``feat_dim`` and ``embedding_size``."""

    feat_dim: int = 80
    embedding_size: int = 192
    growth_rate: int = 32
    bn_size: int = 4
    init_channels: int = 128


@dataclass(frozen=True)
class ReferenceConstants:
    """Sizes the reference code hard-codes instead of reading them from ``config.yaml``.

    Defaults are the released model's. ``semantic_dim`` is the w2v-BERT width (also the conformer input, the
    semantic codec width, the length regulator input and the last ``gpt_layer`` output); ``emo_latent_dim`` the
    emotion perceiver width; ``gpt_layer_dims`` the widths of s2mel's ``gpt_layer`` MLP (first = GPT
    ``model_dim``, last = ``semantic_dim``); ``w2v_hidden_layer`` the index into w2v-BERT's hidden states.
    """

    semantic_dim: int = 1024
    emo_latent_dim: int = 1024
    gpt_layer_dims: tuple[int, ...] = (1280, 256, 128, 1024)
    campplus: CampplusDims = field(default_factory=CampplusDims)
    w2v_hidden_layer: int = 17

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any], *, source: str | Path) -> ReferenceConstants:
        """Defaults replaced by a config's ``tiny_overrides`` section; an unknown key is an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ModelFolderError(f"unknown constant(s) {unknown}", file=source, key="tiny_overrides")
        values: dict[str, Any] = dict(overrides)
        try:
            if "gpt_layer_dims" in values:
                values["gpt_layer_dims"] = tuple(int(v) for v in values["gpt_layer_dims"])
            if "campplus" in values:
                values["campplus"] = CampplusDims(**{k: int(v) for k, v in dict(values["campplus"]).items()})
            for name in ("semantic_dim", "emo_latent_dim", "w2v_hidden_layer"):
                if name in values:
                    values[name] = int(values[name])
        except (TypeError, ValueError) as exc:
            raise ModelFolderError(f"malformed value: {exc}", file=source, key="tiny_overrides") from exc
        return cls(**values)


@dataclass(frozen=True)
class MelConfig:
    """The log-mel spectrogram of the s2mel/BigVGAN side (``s2mel.preprocess_params``).

    ``fmax`` is ``None`` for no upper limit. The reference turns the string ``"None"`` into no limit and any
    other value into 8000 Hz, whatever it says; :meth:`from_model_config` keeps that rule so a released folder
    computes what the reference computes.
    """

    sampling_rate: int
    n_fft: int
    num_mels: int
    hop_size: int
    win_size: int
    fmin: float
    fmax: float | None

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> MelConfig:
        pre = cfg.get("s2mel.preprocess_params")
        spect = pre["spect_params"]
        return cls(
            sampling_rate=int(pre["sr"]),
            n_fft=int(spect["n_fft"]),
            num_mels=int(spect["n_mels"]),
            hop_size=int(spect["hop_length"]),
            win_size=int(spect["win_length"]),
            fmin=float(spect.get("fmin", 0)),
            fmax=None if spect.get("fmax", "None") == "None" else 8000.0,
        )


@dataclass(frozen=True)
class ModelConfig:
    """A model folder's configuration: where it lives, ``config.yaml`` as parsed, and the hard-coded constants.

    ``raw`` mirrors the YAML (read-only). Networks read their section with ``cfg.raw[...]`` or with
    :meth:`get`, which names the missing key in a :class:`ModelFolderError`.
    """

    model_dir: Path
    raw: Mapping[str, Any]
    constants: ReferenceConstants = field(default_factory=ReferenceConstants)

    def file(self, name: str | Path) -> Path:
        """The path of a file of the model folder (not checked for existence: loaders report that)."""
        return self.model_dir / name

    def get(self, dotted_key: str, kind: type[T] | None = None) -> Any:
        """The value at ``"a.b.c"``; raises ModelFolderError naming config.yaml and the key when absent.

        With ``kind`` the value must be of that type (ints are accepted where floats are asked for).
        """
        node: Any = self.raw
        for depth, part in enumerate(dotted_key.split(".")):
            if not isinstance(node, Mapping) or part not in node:
                missing = ".".join(dotted_key.split(".")[: depth + 1])
                raise ModelFolderError("missing from the configuration", file=self.file(CONFIG_FILE), key=missing)
            node = node[part]
        if kind is not None and not _is_kind(node, kind):
            raise ModelFolderError(
                f"expected {kind.__name__}, found {node!r}", file=self.file(CONFIG_FILE), key=dotted_key
            )
        return node

    @property
    def mel(self) -> MelConfig:
        """The s2mel/BigVGAN mel spectrogram settings."""
        return MelConfig.from_model_config(self)

    @property
    def emo_num(self) -> tuple[int, ...]:
        """Rows per emotion group of ``feat1.pt``/``feat2.pt`` (8 groups)."""
        return tuple(int(n) for n in self.get("emo_num"))

    @property
    def bpe_model(self) -> Path:
        """The SentencePiece model file."""
        return self.file(self.get("dataset.bpe_model", str))


def load_config(model_dir: str | Path) -> ModelConfig:
    """Read and check ``<model_dir>/config.yaml`` (and its ``tiny_overrides`` section, if any)."""
    model_dir = Path(model_dir)
    path = model_dir / CONFIG_FILE
    if not model_dir.is_dir():
        raise ModelFolderError("not a directory", file=model_dir)
    return _config_from_file(path, model_dir)


def official_config(model_dir: str | Path | None = None) -> ModelConfig:
    """The released IndexTTS-2 configuration (full size, default constants), for building full-size modules.

    ``model_dir`` is only where :meth:`ModelConfig.file` points; by default the package's data folder.
    """
    return _config_from_file(OFFICIAL_CONFIG, Path(model_dir) if model_dir is not None else OFFICIAL_CONFIG.parent)


def _config_from_file(path: Path, model_dir: Path) -> ModelConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ModelFolderError("missing: this is not an IndexTTS-2 model folder", file=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"unreadable: {exc}", file=path) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelFolderError(f"not valid YAML: {exc}", file=path) from exc
    if not isinstance(raw, dict):
        raise ModelFolderError("not a YAML mapping", file=path)
    overrides = raw.pop("tiny_overrides", None) or {}
    if not isinstance(overrides, Mapping):
        raise ModelFolderError("must be a mapping", file=path, key="tiny_overrides")
    cfg = ModelConfig(
        model_dir=model_dir,
        raw=_freeze(raw),
        constants=ReferenceConstants.from_overrides(overrides, source=path),
    )
    _check(cfg, path)
    return cfg


def _check(cfg: ModelConfig, path: Path) -> None:
    version = cfg.raw.get("version")
    if not isinstance(version, int | float) or not math.isclose(float(version), SUPPORTED_VERSION):
        raise ModelFolderError(
            f"is {version!r}; this engine implements IndexTTS version {SUPPORTED_VERSION}", file=path, key="version"
        )
    for key in REQUIRED_KEYS:
        cfg.get(key)
    for key in ("gpt.model_dim", "gpt.layers", "gpt.heads", "semantic_codec.codebook_size"):
        value = cfg.get(key, int)
        if value <= 0:
            raise ModelFolderError(f"must be positive, found {value}", file=path, key=key)
    emo_num = cfg.get("emo_num")
    if not isinstance(emo_num, tuple) or not all(isinstance(n, int) and n > 0 for n in emo_num):
        raise ModelFolderError(f"must be a list of positive integers, found {emo_num!r}", file=path, key="emo_num")


def _is_kind(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
