"""Conformance runner: proves, case by case, that the engine computes what the reference implementation computes.

``python -m tts_engine.conformance BUNDLE_DIR [--only COMPONENT ...] [--json FILE]``. A bundle (see
``indextts-conformance/README.md``) holds a tiny random-weight model folder in the official formats and, per case,
inputs plus the reference's outputs. Adapters in :mod:`tts_engine.conformance.components` connect each
component of the manifest to the engine.
"""

from tts_engine.conformance.bundle import Bundle, BundleError, Case
from tts_engine.conformance.cli import main
from tts_engine.conformance.runner import CaseResult, discover_adapters, run_case, run_cases, summary_line

__all__ = [
    "Bundle",
    "BundleError",
    "Case",
    "CaseResult",
    "discover_adapters",
    "main",
    "run_case",
    "run_cases",
    "summary_line",
]
