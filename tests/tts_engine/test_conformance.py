"""The conformance runner on the public bundle: every case of every implemented component must pass.

One test per case, so that each failure is visible by name. A case whose component has no adapter yet (or whose
adapter says "not implemented yet") is an expected failure carrying that reason, never a silent skip. The
runner itself is checked too: its line format, and that it catches a wrong expected value.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest

from tests.tts_engine.conftest import BUNDLE_DIR
from tts_engine.conformance import Bundle, main, run_case
from tts_engine.conformance.runner import Discovery, discover_adapters, format_result

MANIFEST = json.loads((BUNDLE_DIR / "cases" / "manifest.json").read_text(encoding="utf-8"))
CASE_IDS = [case["id"] for case in MANIFEST["cases"]]
LINE = re.compile(r"^(?P<id>\S+) +(?P<component>\S+) +(?P<score>inf|\d+\.\d{3})  (?P<verdict>PASS|FAIL)(  .+)?$")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")
FRONTEND = ("text_normalize", "text_tokenize", "mel")


@pytest.fixture(scope="module")
def discovery() -> Discovery:
    found = discover_adapters()
    assert not found.broken, f"component modules failed to import: {found.broken}"
    return found


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case(case_id: str, bundle: Bundle, discovery: Discovery) -> None:
    case = next(case for case in bundle.cases if case.id == case_id)
    result = run_case(bundle, case, discovery)
    if result.not_implemented:
        pytest.xfail(f"{case.component}: {result.detail}")
    assert result.passed, format_result(result)


def test_front_end_components_are_implemented(discovery: Discovery) -> None:
    assert set(FRONTEND) <= set(discovery.adapters)


def test_report_lines_and_summary(bundle_dir: Path, tmp_path: Path) -> None:
    out = StringIO()
    report = tmp_path / "report.json"
    status = main([str(bundle_dir), "--only", *FRONTEND, "--json", str(report)], out=out)
    lines = out.getvalue().splitlines()
    wanted = [case["id"] for case in MANIFEST["cases"] if case["component"] in FRONTEND]
    assert [LINE.match(line)["id"] for line in lines[:-1]] == wanted
    assert lines[-1] == f"{len(wanted)} passed, 0 failed"
    assert status == 0
    data = json.loads(report.read_text())
    assert data["summary"] == lines[-1]
    assert [case["id"] for case in data["cases"]] == wanted
    assert all(case["passed"] for case in data["cases"])


def _altered_bundle(bundle_dir: Path, root: Path) -> Path:
    """A bundle of two cases (same model folder) in which one expected output was changed."""
    (root / "cases").mkdir(parents=True)
    (root / "model").symlink_to(bundle_dir / "model", target_is_directory=True)
    cases = [MANIFEST["cases"][CASE_IDS.index(i)] for i in ("text_normalize_00_zh_plain", "text_normalize_01_en_plain")]
    for case in cases:
        shutil.copy(bundle_dir / "cases" / f"{case['id']}.json", root / "cases")
    altered = root / "cases" / "text_normalize_01_en_plain.json"
    content = json.loads(altered.read_text())
    content["outputs"]["normalized"] += " (altered)"
    altered.write_text(json.dumps(content), encoding="utf-8")
    (root / "cases" / "manifest.json").write_text(json.dumps({**MANIFEST, "cases": cases}), encoding="utf-8")
    return root


def test_runner_detects_a_wrong_expected_value(bundle_dir: Path, tmp_path: Path) -> None:
    bundle = _altered_bundle(bundle_dir, tmp_path / "bundle")
    out = StringIO()
    assert main([str(bundle)], out=out) == 1
    lines = out.getvalue().splitlines()
    assert LINE.match(lines[0])["verdict"] == "PASS"
    failed = LINE.match(lines[1])
    assert failed["id"] == "text_normalize_01_en_plain"
    assert failed["verdict"] == "FAIL" and failed["score"] == "inf"
    assert "(altered)" in lines[1]
    assert lines[-1] == "1 passed, 1 failed"


def test_command_line_exit_status(bundle_dir: Path, tmp_path: Path) -> None:
    bundle = _altered_bundle(bundle_dir, tmp_path / "bundle")
    run = subprocess.run(
        [sys.executable, "-m", "tts_engine.conformance", str(bundle)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1, run.stderr
    assert SUMMARY.match(run.stdout.splitlines()[-1]).groups() == ("1", "1")


def test_unknown_component_and_missing_bundle_are_usage_errors(bundle_dir: Path, tmp_path: Path) -> None:
    assert main([str(bundle_dir), "--only", "no_such_component"], out=StringIO()) == 2
    assert main([str(tmp_path)], out=StringIO()) == 2


def test_a_component_without_adapter_is_reported_not_implemented(bundle_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "cases").mkdir(parents=True)
    (root / "model").symlink_to(bundle_dir / "model", target_is_directory=True)
    case = {**MANIFEST["cases"][0], "id": "future_00", "component": "future_component"}
    (root / "cases" / "manifest.json").write_text(json.dumps({**MANIFEST, "cases": [case]}), encoding="utf-8")
    out = StringIO()
    assert main([str(root)], out=out) == 1
    first, last = out.getvalue().splitlines()
    assert first.endswith("FAIL  not implemented yet")
    assert last == "0 passed, 1 failed"
