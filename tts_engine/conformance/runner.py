"""Run a bundle's cases against the engine and compare every output with the reference's, within tolerance.

Adapters live in :mod:`tts_engine.conformance.components`, one module per group of components, each exporting
``ADAPTERS: dict[str, Callable[[Bundle, Case], Mapping[str, Any]]]``. The runner imports every module of that
package, so a group that does not exist yet simply leaves its components "not implemented yet"; a module that
exists but fails to import fails the cases of the components it is known to serve (:data:`GROUPS`), so a
broken module is never mistaken for an unwritten one.

For each output the runner reports ``max|actual − expected| / (atol + rtol·|expected|)`` (0 for an exact match;
``inf`` for an exact mismatch, a wrong shape or dtype, or a NaN), and a case's score is its worst output.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from tts_engine.conformance import components
from tts_engine.conformance.bundle import Bundle, Case, Item

__all__ = [
    "GROUPS",
    "NOT_IMPLEMENTED",
    "Adapter",
    "CaseResult",
    "OutputResult",
    "discover_adapters",
    "format_result",
    "run_case",
    "run_cases",
    "summary_line",
]

Adapter = Callable[[Bundle, Case], Mapping[str, Any]]
NOT_IMPLEMENTED = "not implemented yet"
# Which components module serves which component of the public bundle format, used only to blame the right
# module when one fails to import. Components not listed here are simply looked up in ADAPTERS.
GROUPS: Mapping[str, str] = {
    "text_normalize": "frontend",
    "text_tokenize": "frontend",
    "mel": "frontend",
    "fbank_style": "conditioning",
    "semantic_features": "conditioning",
    "semantic_codec": "conditioning",
    "length_regulator": "conditioning",
    "gpt_conditioning": "gpt",
    "emotion_vector": "gpt",
    "gpt_forward": "gpt",
    "gpt_generate": "gpt",
    "s2mel": "acoustic",
    "vocoder": "acoustic",
    "end_to_end": "acoustic",
}


@dataclass(frozen=True)
class OutputResult:
    """One compared output: its score (see module docstring), whether it passed, and why not."""

    name: str
    score: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case.

    ``not_implemented`` marks a failure that only says "not yet": the component has no adapter, its adapter
    raised NotImplementedError, or it left outputs out (and got the others right).
    """

    id: str
    component: str
    passed: bool
    score: float
    detail: str = ""
    not_implemented: bool = False
    outputs: tuple[OutputResult, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = _json_float(self.score)
        for out in data["outputs"]:
            out["score"] = _json_float(out["score"])
        return data


@dataclass(frozen=True)
class Discovery:
    """Adapters found, and import errors of component modules keyed by module name."""

    adapters: Mapping[str, Adapter]
    broken: Mapping[str, str]


def discover_adapters() -> Discovery:
    """Import every module of :mod:`tts_engine.conformance.components` and merge their ``ADAPTERS``."""
    adapters: dict[str, Adapter] = {}
    owners: dict[str, str] = {}
    broken: dict[str, str] = {}
    for info in pkgutil.iter_modules(components.__path__):
        name = info.name
        try:
            module = importlib.import_module(f"{components.__name__}.{name}")
        except Exception as exc:  # a broken module must not stop the other groups from running
            broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        for component, adapter in getattr(module, "ADAPTERS", {}).items():
            if component in owners:
                broken[name] = f"component {component!r} is also served by components/{owners[component]}.py"
                continue
            adapters[component] = adapter
            owners[component] = name
    return Discovery(adapters, broken)


def run_case(bundle: Bundle, case: Case, discovery: Discovery) -> CaseResult:
    """Run one case through its adapter and compare every output; never raises for an engine failure."""
    adapter = discovery.adapters.get(case.component)
    if adapter is None:
        group = GROUPS.get(case.component)
        if group in discovery.broken:
            return _failed(case, f"components/{group}.py failed to import: {discovery.broken[group]}")
        return _failed(case, NOT_IMPLEMENTED, not_implemented=True)
    try:
        actual = adapter(bundle, case)
    except NotImplementedError as exc:
        return _failed(case, f"{NOT_IMPLEMENTED}: {exc}" if str(exc) else NOT_IMPLEMENTED, not_implemented=True)
    except Exception as exc:  # report and go on with the next case
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {frame.filename}:{frame.lineno})"
        return _failed(case, f"error: {type(exc).__name__}: {exc}{where}")
    missing = [item.name for item in case.outputs if item.name not in actual]
    results = tuple(
        _compare(item, actual[item.name], case.expected(item.name)) for item in case.outputs if item.name in actual
    )
    score = math.inf if missing else max((r.score for r in results), default=0.0)
    failures = [r for r in results if not r.passed]
    details = [f"{r.name}: {r.detail}" for r in failures]
    if missing:
        details.insert(0, f"{NOT_IMPLEMENTED}: {', '.join(missing)}")
    return CaseResult(
        id=case.id,
        component=case.component,
        passed=not failures and not missing,
        score=score,
        detail="; ".join(details),
        not_implemented=bool(missing) and not failures,
        outputs=results,
    )


def run_cases(bundle: Bundle, only: Iterable[str] = ()) -> Iterable[CaseResult]:
    """Run the cases of ``bundle`` (restricted to the components in ``only`` if given), yielding as they finish."""
    wanted = set(only)
    discovery = discover_adapters()
    for case in bundle.cases:
        if not wanted or case.component in wanted:
            yield run_case(bundle, case, discovery)


def format_result(result: CaseResult, id_width: int = 40) -> str:
    """``<id> <component> <worst max|err|/atol> PASS|FAIL [detail]``: one line per case."""
    verdict = "PASS" if result.passed else "FAIL"
    line = f"{result.id:<{id_width}} {result.component:<18} {_format_score(result.score):>9}  {verdict}"
    return f"{line}  {result.detail}" if result.detail else line


def summary_line(results: Iterable[CaseResult]) -> str:
    """The last line of a run: ``N passed, M failed``."""
    results = list(results)
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"


def _failed(case: Case, detail: str, *, not_implemented: bool = False) -> CaseResult:
    return CaseResult(case.id, case.component, False, math.inf, detail, not_implemented)


def _compare(item: Item, actual: Any, expected: Any) -> OutputResult:
    tolerance = item.tolerance
    assert tolerance is not None  # outputs always carry one (Tolerance.from_manifest defaults to exact)
    if isinstance(expected, Tensor):
        return _compare_tensor(item, actual, expected)
    if tolerance.kind == "exact":
        same = _plain(actual) == _plain(expected)
        return OutputResult(item.name, 0.0 if same else math.inf, same, "" if same else _diff(actual, expected))
    try:
        return _within(
            item, torch.as_tensor(actual, dtype=torch.float64), torch.as_tensor(expected, dtype=torch.float64)
        )
    except (TypeError, ValueError, RuntimeError) as exc:
        return OutputResult(item.name, math.inf, False, f"not comparable: {exc}")


def _compare_tensor(item: Item, actual: Any, expected: Tensor) -> OutputResult:
    if not isinstance(actual, Tensor):
        return OutputResult(item.name, math.inf, False, f"expected a tensor, got {type(actual).__name__}")
    actual = actual.detach().cpu()
    if actual.dtype != expected.dtype:
        return OutputResult(item.name, math.inf, False, f"dtype {actual.dtype} != expected {expected.dtype}")
    if actual.shape != expected.shape:
        return OutputResult(
            item.name, math.inf, False, f"shape {list(actual.shape)} != expected {list(expected.shape)}"
        )
    if item.tolerance is None or item.tolerance.kind == "exact":
        equal = torch.equal(actual, expected)
        if equal:
            return OutputResult(item.name, 0.0, True)
        where = (actual != expected).nonzero()
        return OutputResult(item.name, math.inf, False, f"{len(where)} element(s) differ, first at {where[0].tolist()}")
    return _within(item, actual.double(), expected.double())


def _within(item: Item, actual: Tensor, expected: Tensor) -> OutputResult:
    tolerance = item.tolerance
    assert tolerance is not None
    if actual.shape != expected.shape:
        return OutputResult(
            item.name, math.inf, False, f"shape {list(actual.shape)} != expected {list(expected.shape)}"
        )
    if actual.numel() == 0:
        return OutputResult(item.name, 0.0, True)
    error = (actual - expected).abs()
    if torch.isnan(error).any():
        return OutputResult(item.name, math.inf, False, "NaN in the output")
    bound = tolerance.atol + tolerance.rtol * expected.abs()
    # error / 0 is inf where the bound is zero; an exact zero error scores 0 whatever the bound.
    score = float(torch.where(error == 0, 0.0, error / bound).max())
    passed = bool((error <= bound).all())
    detail = "" if passed else f"max|err| {float(error.max()):.3g} > atol {tolerance.atol:.3g}"
    return OutputResult(item.name, score, passed, detail)


def _plain(value: Any) -> Any:
    """JSON-normalised value (tuples → lists, numpy/torch scalars → Python), so containers compare by content."""
    if isinstance(value, Tensor):
        return value.tolist()
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _diff(actual: Any, expected: Any) -> str:
    return f"got {_clip(actual)}, expected {_clip(expected)}"


def _clip(value: Any, width: int = 160) -> str:
    text = repr(_plain(value)) if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _format_score(score: float) -> str:
    return "inf" if math.isinf(score) else f"{score:.3f}"


def _json_float(value: float) -> float | str:
    return "inf" if math.isinf(value) else value
