"""`python -m bench`: every benchmark, one after another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.machine import describe

HERE = Path(__file__).parent


def main() -> int:
    steps = [["-m", "bench.stages"]]
    if (HERE / "corpus_stats.py").exists():
        steps.insert(0, [str(HERE / "corpus_stats.py")])
    if (HERE / "load.py").exists():
        steps.append([str(HERE / "load.py")])
    steps.append(["-m", "bench.footprint", "--output", "reports/footprint.json"])
    print(f"machine: {describe()}", flush=True)
    status = 0
    for args in steps:
        print(f"\n== {' '.join(args)}", flush=True)
        status |= subprocess.call([sys.executable, *args])
    return status


if __name__ == "__main__":
    sys.exit(main())
