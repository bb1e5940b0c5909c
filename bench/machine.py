"""The machine a benchmark ran on, in one line, printed above its figures: times taken on different CPUs are not
comparable. This project's machine has changed under it from one day to the next (README, "Speed"): a reader pass
of about 16 candidate pairs took 531 ms on one thread of a CPU with AVX-512 and 1,303 ms on one with AVX2 only.

    python -m bench.machine
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The vector extensions ONNX Runtime's and NumPy's kernels choose between, widest first.
EXTENSIONS = ("amx_tile", "avx512_vnni", "avx512f", "avx_vnni", "avx2")


def describe(cpuinfo: str | None = None, load: float | None = None) -> str:
    """CPU model, CPUs this process may use, its widest vector extensions, the load average."""
    if cpuinfo is None:
        cpuinfo = CPUINFO.read_text("utf-8", errors="replace") if CPUINFO.is_file() else ""
    fields = _first_cpu(cpuinfo)
    model = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    flags = set(fields.get("flags", "").split())
    found = [e.upper().replace("_", " ") for e in EXTENSIONS if e in flags]
    vectors = ", ".join(found) if found else ("no AVX2" if flags else "extensions unknown")
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {_cpus()} CPUs, {vectors}, load average {load:.1f}"


def _first_cpu(cpuinfo: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


if __name__ == "__main__":
    print(describe())
