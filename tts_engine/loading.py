"""Reading the official checkpoint files into our modules, safely and strictly.

Safety: a model folder is data, never code. Pickled files are read with ``torch.load(weights_only=True)``, whose
unpickler accepts only tensors and plain containers, and ``.safetensors`` files with safetensors; nothing else
is ever opened. Strictness: every state dict must match its module key for key and shape, and any difference
is reported at once, per file (missing, unexpected, shape), so that a folder from another version or a
truncated download fails here with the file and key named, and never halfway through a synthesis.

Checkpoint containers are flattened into one ``dict[str, Tensor]`` with dotted keys, the way
``full-size-keys.json`` writes them (``s2mel.pth`` → ``net.cfm.…``, ``bigvgan_generator.pt`` → ``generator.…``);
:func:`sub_state` takes one module's part back out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from tts_engine.config import ModelConfig
from tts_engine.errors import ModelFolderError

__all__ = [
    "AUXILIARY_FILES",
    "assert_keys",
    "check_model_folder",
    "expected_shapes",
    "fold_weight_norm",
    "load_strict",
    "on_meta",
    "read_tensor",
    "read_tensors",
    "sub_state",
]

M = TypeVar("M", bound=nn.Module)
# The auxiliary models the reference fetches from the Hugging Face hub, in the layout it loads them from.
AUXILIARY_FILES = (
    "hf_cache/w2v-bert-2.0/config.json",
    "hf_cache/w2v-bert-2.0/model.safetensors",
    "hf_cache/w2v-bert-2.0/preprocessor_config.json",
    "hf_cache/semantic_codec_model.safetensors",
    "hf_cache/campplus_cn_common.bin",
    "hf_cache/bigvgan/config.json",
    "hf_cache/bigvgan/bigvgan_generator.pt",
)
# config.yaml keys that name a file of the model folder.
FILE_KEYS = ("gpt_checkpoint", "s2mel_checkpoint", "w2v_stat", "emo_matrix", "spk_matrix", "dataset.bpe_model")
# How many keys of each kind a mismatch report lists before it says "and N more".
REPORT_LIMIT = 8


def check_model_folder(cfg: ModelConfig) -> None:
    """Refuse, in one error listing every absent file, a model folder that lacks any file the engine reads.

    Run before building anything, so that an incomplete download is reported once and completely rather than
    one file at a time halfway through loading.
    """
    names = [str(cfg.get(key, str)) for key in FILE_KEYS] + list(AUXILIARY_FILES)
    missing = [name for name in names if not cfg.file(name).is_file()]
    if missing:
        raise ModelFolderError(
            f"incomplete model folder: missing {', '.join(missing)}", file=cfg.model_dir, key=missing[0]
        )


def read_tensors(path: str | Path) -> dict[str, Tensor]:
    """All tensors of a checkpoint file, nested containers flattened to dotted keys.

    ``.safetensors`` files are read with safetensors; everything else with ``torch.load(weights_only=True,
    mmap=True)`` on the CPU. Non-tensor leaves of a container (``s2mel.pth``'s ``epoch`` and ``iters``) are
    dropped. A file holding a single tensor gives ``{"": tensor}`` (see :func:`read_tensor`).
    """
    obj = _read(Path(path))
    flat: dict[str, Tensor] = {}
    _flatten(obj, "", flat, Path(path))
    if not flat:
        raise ModelFolderError("holds no tensors", file=path)
    return flat


def read_tensor(path: str | Path) -> Tensor:
    """The tensor of a file that holds exactly one (``feat1.pt``, ``feat2.pt``)."""
    flat = read_tensors(path)
    if list(flat) != [""]:
        raise ModelFolderError(f"expected a single tensor, found keys {_short(sorted(flat))}", file=path)
    return flat[""]


def sub_state(state: Mapping[str, Tensor], prefix: str, *, source: str | Path) -> dict[str, Tensor]:
    """The entries under ``prefix.`` with the prefix removed; a prefix with no entries is an error."""
    head = prefix + "."
    part = {key[len(head) :]: value for key, value in state.items() if key.startswith(head)}
    if not part:
        raise ModelFolderError("no tensors under this prefix", file=source, key=prefix)
    return part


def fold_weight_norm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace every ``X.weight_g`` / ``X.weight_v`` pair by ``X.weight = g · v / ‖v‖``.

    The norm is taken over every dimension except 0, as ``torch.nn.utils.weight_norm(dim=0)`` does (for a
    ConvTranspose dim 0 is the input channel, and the stored ``weight_g`` already has that shape). Folding once
    at load time computes what the reference computes on every forward (or once, for BigVGAN's
    ``remove_weight_norm``), so our modules hold plain weights.
    """
    folded = dict(state)
    for stem in _weight_norm_stems(state):
        g, v = folded.pop(stem + "_g"), folded.pop(stem + "_v")
        dims = tuple(range(1, v.dim()))
        norm = torch.linalg.vector_norm(v, dim=dims, keepdim=True) if dims else v.abs()
        folded[stem] = v * (g / norm)
    return folded


def load_strict(module: nn.Module, state: Mapping[str, Tensor], *, source: str | Path) -> None:
    """Load ``state`` into ``module`` after checking keys and shapes; any difference raises ModelFolderError.

    The report lists missing keys, unexpected keys and shape mismatches together, and names ``source`` (the
    file, with the container prefix if any). A module built on the ``meta`` device takes the tensors as they
    are (``assign``), so a full-size model costs no memory before loading.
    """
    _compare(_module_shapes(module), {k: tuple(v.shape) for k, v in state.items()}, source=source)
    assign = any(t.is_meta for t in module.state_dict().values())
    module.load_state_dict(dict(state), strict=True, assign=assign)


def assert_keys(
    module: nn.Module, expected: Mapping[str, Any], *, source: str | Path, weight_norm: bool = True
) -> None:
    """Check that ``module`` has exactly the keys and shapes of ``expected`` (a checkpoint's listing).

    ``expected`` maps key → shape, or key → ``{"shape": [...]}`` as in ``full-size-keys.json``. With
    ``weight_norm`` the listing's ``weight_g``/``weight_v`` pairs are first folded into ``weight`` (shape of
    ``weight_v``), as :func:`fold_weight_norm` does to the tensors.
    """
    shapes = expected_shapes(expected)
    if weight_norm:
        shapes = _fold_shapes(shapes)
    _compare(_module_shapes(module), shapes, source=source)


def expected_shapes(listing: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[int, ...]]:
    """key → shape from a listing (``full-size-keys.json`` entries or plain shapes), optionally under ``prefix.``."""
    head = prefix + "." if prefix else ""
    shapes: dict[str, tuple[int, ...]] = {}
    for key, value in listing.items():
        if not key.startswith(head):
            continue
        shape = value["shape"] if isinstance(value, Mapping) else value
        shapes[key[len(head) :]] = tuple(int(d) for d in shape)
    return shapes


def on_meta(factory: Callable[[], M]) -> M:
    """Build a module on the ``meta`` device: shapes without memory, for key checks and assign-loading."""
    with torch.device("meta"):
        return factory()


def _read(path: Path) -> Any:
    if not path.is_file():
        raise ModelFolderError("missing", file=path)
    if path.suffix == ".safetensors":
        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFolderError(f"not a readable safetensors file: {exc}", file=path) from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for corrupt files
        raise ModelFolderError(
            f"not a readable PyTorch checkpoint (loaded with weights_only=True): {type(exc).__name__}: {exc}",
            file=path,
        ) from exc


def _flatten(obj: Any, prefix: str, out: dict[str, Tensor], path: Path) -> None:
    if isinstance(obj, Tensor):
        out[prefix] = obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ModelFolderError(f"non-string key {key!r}", file=path, key=prefix or None)
            _flatten(value, f"{prefix}.{key}" if prefix else key, out, path)
    elif not isinstance(obj, int | float | str | type(None)):
        raise ModelFolderError(f"unexpected {type(obj).__name__} in the checkpoint", file=path, key=prefix or None)


def _module_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def _fold_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    folded = dict(shapes)
    for stem in _weight_norm_stems(shapes):
        folded.pop(stem + "_g")
        folded[stem] = folded.pop(stem + "_v")
    return folded


def _weight_norm_stems(keys: Iterable[str]) -> list[str]:
    """``X.weight`` for every ``X.weight_g`` that has its ``X.weight_v`` (``weight`` for a bare pair)."""
    keys = set(keys)
    stems = [k[: -len("_g")] for k in keys if k == "weight_g" or k.endswith(".weight_g")]
    return sorted(stem for stem in stems if stem + "_v" in keys)


def _compare(ours: Mapping[str, tuple[int, ...]], theirs: Mapping[str, tuple[int, ...]], *, source: str | Path) -> None:
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    wrong = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    if not (missing or unexpected or wrong):
        return
    problems = []
    if missing:
        problems.append(f"missing keys {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_short(unexpected)}")
    if wrong:
        shapes = [f"{k}: file {list(theirs[k])} vs model {list(ours[k])}" for k in wrong]
        problems.append(f"shape mismatches [{'; '.join(shapes[:REPORT_LIMIT])}{_more(shapes)}]")
    first = (missing or unexpected or wrong)[0]
    raise ModelFolderError(
        "does not match this engine's model (another version or a corrupt file?): " + "; ".join(problems),
        file=source,
        key=first,
    )


def _short(keys: list[str]) -> str:
    return "[" + ", ".join(keys[:REPORT_LIMIT]) + _more(keys) + "]"


def _more(items: list[str]) -> str:
    return f", ... and {len(items) - REPORT_LIMIT} more" if len(items) > REPORT_LIMIT else ""
