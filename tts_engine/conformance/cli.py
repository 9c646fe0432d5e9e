"""Command line of the conformance runner: one line per case, then ``N passed, M failed``; exit 1 on any failure."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tts_engine.conformance.bundle import Bundle, BundleError
from tts_engine.conformance.runner import format_result, run_cases, summary_line
from tts_engine.errors import TtsError

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the cases of a bundle; returns the exit status (0 all passed, 1 a case failed, 2 unusable bundle)."""
    parser = argparse.ArgumentParser(prog="python -m tts_engine.conformance", description=__doc__)
    parser.add_argument("bundle", type=Path, help="bundle directory (holds cases/manifest.json and the model folder)")
    parser.add_argument("--only", nargs="+", metavar="COMPONENT", default=[], help="run only these components")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every result, per output, as JSON")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    try:
        bundle = Bundle(args.bundle)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    unknown = sorted(set(args.only) - {case.component for case in bundle.cases})
    if unknown:
        print(f"error: no case of component(s) {unknown} in {args.bundle}", file=sys.stderr)
        return EXIT_USAGE
    try:
        _ = bundle.config  # the model folder loading with our loader is the first check
    except TtsError as exc:
        print(f"error: the bundle's model folder does not load: {exc}", file=sys.stderr)
        return EXIT_FAILED

    width = max((len(case.id) for case in bundle.cases), default=0)
    results = []
    for result in run_cases(bundle, args.only):
        results.append(result)
        print(format_result(result, width), file=out, flush=True)
    summary = summary_line(results)
    print(summary, file=out)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"bundle": str(args.bundle), "summary": summary, "cases": [r.to_json() for r in results]}, indent=1
            )
            + "\n",
            encoding="utf-8",
        )
    return 0 if all(r.passed for r in results) else EXIT_FAILED
