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


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo ("AMD EPYC ..."), or what the platform module knows."""
    return _cpuinfo().get("model name") or platform.processor() or "unknown"


def cpu_generation() -> dict[str, object]:
    """Family and model numbers and the vector extensions the speech engine's kernels depend on. A VM may call every
    EPYC just "AMD EPYC", and a Zen 3 (family 25 model 1, AVX2 only) took 1.5x as long as a Zen 4 (AVX-512 with
    bfloat16) on the engine's float32 work (bench/tts_core.py, exact mode, 77.9 s against 52.4 s)."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
    return {"family": info.get("cpu family"), "model": info.get("model"), "vector": [f for f in wanted if f in flags]}


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
    """Platform, Python, CPU model, generation and count, load average, commit, ``packages``' versions, then
    ``extra``."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_generation": cpu_generation(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": commit(),
        "versions": {package: _version(package) for package in packages},
        **extra,
    }
