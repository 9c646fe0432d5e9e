"""What every benchmark records about the machine and the code it ran on.

A figure is comparable with another only when both came from the same kind of CPU (an AMD EPYC without AMX and a
Xeon with AMX differ 1.5-2x on the speech engine's work, for instance), under a similar load, at a known commit, with
the same versions of the libraries that do the work. Each bench names those libraries and adds what only it knows
(torch threads, the GPU, the database).
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo ("AMD EPYC ..."), or what the platform module knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def commit() -> str:
    """The checked-out commit of this repository, or "unknown" outside a git work tree."""
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def describe(*packages: str, **extra: object) -> dict[str, object]:
    """Platform, Python, CPU model and count, load average, commit, ``packages``' versions, then ``extra``."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": commit(),
        "versions": {package: _version(package) for package in packages},
        **extra,
    }
