"""Fixtures for the engine's tests: the shared conformance bundle, its model configuration and its cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_engine.config import ModelConfig, load_config
from tts_engine.conformance import Bundle

BUNDLE_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "indextts-conformance").resolve()


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    """The public conformance bundle (random-weight tiny model + reference outputs)."""
    if not (BUNDLE_DIR / "cases" / "manifest.json").is_file():
        pytest.fail(f"the conformance bundle is missing at {BUNDLE_DIR}")
    return BUNDLE_DIR


@pytest.fixture(scope="session")
def model_config(bundle_dir: Path) -> ModelConfig:
    """The bundle's tiny model folder, read with the engine's loader."""
    return load_config(bundle_dir / "model")


@pytest.fixture(scope="session")
def bundle(bundle_dir: Path) -> Bundle:
    """The bundle, shared by the session so that networks are built once (``bundle.cached``)."""
    return Bundle(bundle_dir)
