"""A conformance bundle on disk: its manifest, its cases and the model folder the cases were made with.

The format is the one of ``indextts-conformance/README.md`` §4: ``cases/manifest.json`` lists every case; each
item (input, output, intermediate) is either a tensor in ``cases/<id>.safetensors`` or a JSON value in
``cases/<id>.json``. Nothing here knows any component: the runner hands :class:`Case` objects to adapters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from safetensors.torch import load_file

from tts_engine.config import ModelConfig, load_config
from tts_engine.errors import TtsError

__all__ = ["Bundle", "BundleError", "Case", "Item", "Tolerance"]

T = TypeVar("T")
MANIFEST = Path("cases") / "manifest.json"
SUPPORTED_FORMAT = 1


class BundleError(TtsError):
    """The bundle itself is malformed (not the engine's fault)."""


@dataclass(frozen=True)
class Tolerance:
    """``exact`` (bit-identical, dtype and shape included) or ``allclose`` (|a − e| ≤ atol + rtol·|e|)."""

    kind: str
    atol: float = 0.0
    rtol: float = 0.0

    @classmethod
    def from_manifest(cls, spec: Mapping[str, Any] | None) -> Tolerance:
        if spec is None:
            return cls("exact")
        kind = spec.get("type")
        if kind == "exact":
            return cls("exact")
        if kind == "allclose":
            return cls("allclose", float(spec.get("atol", 0.0)), float(spec.get("rtol", 0.0)))
        raise BundleError(f"unknown tolerance type {kind!r}")


@dataclass(frozen=True)
class Item:
    """One input, output or intermediate of a case: a tensor (``dtype``, ``shape``) or a JSON value (``type``)."""

    name: str
    file: str
    key: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    type: str | None = None
    tolerance: Tolerance | None = None

    @property
    def is_tensor(self) -> bool:
        return self.dtype is not None

    @classmethod
    def from_manifest(cls, spec: Mapping[str, Any], *, with_tolerance: bool) -> Item:
        try:
            return cls(
                name=spec["name"],
                file=spec["file"],
                key=spec["key"],
                dtype=spec.get("dtype"),
                shape=tuple(spec["shape"]) if "shape" in spec else None,
                type=spec.get("type"),
                tolerance=Tolerance.from_manifest(spec.get("tolerance")) if with_tolerance else None,
            )
        except KeyError as exc:
            raise BundleError(f"manifest item {spec!r} lacks {exc}") from exc


@dataclass
class Case:
    """One case of the manifest, reading its files on first use.

    Adapters use ``id``, ``component``, ``args`` and :meth:`input`; the runner uses :meth:`expected`.
    ``outputs`` lists what the adapter must return: the case's outputs and, for ``end_to_end``, its
    intermediates, all keyed by name.
    """

    root: Path
    id: str
    component: str
    description: str
    args: Mapping[str, Any]
    inputs: tuple[Item, ...]
    outputs: tuple[Item, ...]
    notes: str = ""
    _files: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_manifest(cls, root: Path, spec: Mapping[str, Any]) -> Case:
        try:
            return cls(
                root=root,
                id=spec["id"],
                component=spec["component"],
                description=spec.get("description", ""),
                args=dict(spec.get("args") or {}),
                inputs=tuple(Item.from_manifest(i, with_tolerance=False) for i in spec.get("inputs", ())),
                outputs=tuple(
                    Item.from_manifest(i, with_tolerance=True)
                    for group in ("outputs", "intermediates")
                    for i in spec.get(group, ())
                ),
                notes=spec.get("notes", ""),
            )
        except KeyError as exc:
            raise BundleError(f"manifest case lacks {exc}: {str(spec)[:200]}") from exc

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.outputs)

    def has_input(self, name: str) -> bool:
        return any(item.name == name for item in self.inputs)

    def input(self, name: str) -> Any:
        """An input by name: a CPU tensor of the manifest's dtype, or a str / int / float / list / dict."""
        return self._value(self._item(self.inputs, name, "input"))

    def expected(self, name: str) -> Any:
        """The reference value of an output or intermediate."""
        return self._value(self._item(self.outputs, name, "output"))

    def _item(self, items: tuple[Item, ...], name: str, what: str) -> Item:
        for item in items:
            if item.name == name:
                return item
        raise KeyError(f"case {self.id} has no {what} {name!r} (has {[i.name for i in items]})")

    def _value(self, item: Item) -> Any:
        content = self._file(item.file)
        if item.is_tensor:
            if item.key not in content:
                raise BundleError(f"{item.file} lacks tensor {item.key!r}")
            return content[item.key]
        node: Any = content
        for part in item.key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise BundleError(f"{item.file} lacks {item.key!r}")
            node = node[part]
        return node

    def _file(self, name: str) -> Any:
        if name not in self._files:
            path = self.root / name
            if not path.is_file():
                raise BundleError(f"missing case file {path}")
            self._files[name] = (
                load_file(path, device="cpu")
                if path.suffix == ".safetensors"
                else json.loads(path.read_text(encoding="utf-8"))
            )
        return self._files[name]


class Bundle:
    """A conformance bundle: ``root/cases/manifest.json`` plus the model folder it names.

    ``config`` is the model folder's configuration, read with the engine's own loader. :meth:`cached` builds
    expensive objects (a loaded network, a tokenizer) once per run and shares them across cases.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        try:
            self.manifest: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BundleError(f"{path} not found: not a conformance bundle") from exc
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path} is unreadable: {exc}") from exc
        if self.manifest.get("format_version") != SUPPORTED_FORMAT:
            raise BundleError(f"{path}: format_version {self.manifest.get('format_version')!r} is not supported")
        self.cases: tuple[Case, ...] = tuple(Case.from_manifest(self.root, c) for c in self.manifest["cases"])
        self._cache: dict[str, Any] = {}

    @property
    def model_dir(self) -> Path:
        return self.root / self.manifest.get("model_dir", "model")

    @cached_property
    def config(self) -> ModelConfig:
        return load_config(self.model_dir)

    def cached(self, key: str, factory: Callable[[], T]) -> T:
        """``factory()`` the first time ``key`` is asked for, the same object afterwards."""
        if key not in self._cache:
            self._cache[key] = factory()
        return self._cache[key]
