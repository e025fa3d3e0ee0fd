"""Start-up time of the commands that must not import torch, against importing torch alone.

    python benchmarks/startup.py

Each command runs 5 times in a fresh process and the smallest wall time counts,
so that load from other jobs on the machine counts as little as possible.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPEATS = 5


def ganpat_executable() -> str:
    return str(Path(sys.executable).with_name("ganpat"))


def best_wall_seconds(command: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    baseline = best_wall_seconds([sys.executable, "-c", "import torch"])
    label = 'python -c "import torch"'
    print(f"{label:34} {baseline:6.3f} s")
    for args in (["--help"], ["list-patterns"], ["list-patterns", "--json"], ["plugins"], ["list-architectures"]):
        seconds = best_wall_seconds([ganpat_executable(), *args])
        print(f"{'ganpat ' + ' '.join(args):34} {seconds:6.3f} s  ({seconds / baseline:.2f} x importing torch)")


if __name__ == "__main__":
    main()
