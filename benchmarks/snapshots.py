"""Benchmark the cost of `ganpat train --snapshots K` against the same run without snapshots.

Each run is a fresh `ganpat train PATTERN --quiet --device cpu` child process with
one torch thread, measured from start to exit, so the figures include what a user
waits for: importing matplotlib, drawing every snapshot and writing the GIF. The
script reports wall time and the child's CPU time (user + system, from
``os.wait4``); CPU time depends less on other jobs on a shared machine. Runs with
and without snapshots alternate, so a change in machine load hits both. Both
modes use the same seed, so they train for the same number of epochs.

    python benchmarks/snapshots.py                         # exponential, --snapshots 50, 3 rounds
    python benchmarks/snapshots.py --every 10 --rounds 5
    python benchmarks/snapshots.py --recipe book --epochs 500   # a longer run, no early stop
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPOCHS_RE = re.compile(r"epochs run (\d+)")


def ganpat_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("ganpat")
    return [str(beside_python)] if beside_python.exists() else [sys.executable, "-m", "ganpat"]


def train_once(pattern: str, options: list[str], every: int | None, folder: Path) -> tuple[float, float, int, int]:
    """Run one training and return its wall seconds, CPU seconds, epochs run and snapshot frames written."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    out = folder / f"{pattern}.pt"
    command = [*ganpat_command(), "train", pattern, "--quiet", "--device", "cpu", "--out", str(out), *options]
    if every is not None:
        command += ["--snapshots", str(every)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")

    started = time.perf_counter()
    with open(folder / "stdout.txt", "w+") as stdout, open(folder / "stderr.txt", "w+") as stderr:
        child = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"ganpat train failed:\n{stderr.read()}")
        found = EPOCHS_RE.search(stdout.read())
    epochs = int(found.group(1)) if found else -1
    frames = len(list((folder / pattern).glob("epoch-*.png"))) if every is not None else 0
    return wall, usage.ru_utime + usage.ru_stime, epochs, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pattern", default="exponential")
    parser.add_argument("--every", type=int, default=50, help="K of --snapshots K")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode")
    parser.add_argument("--recipe", default="default", help="recipe of the pattern")
    parser.add_argument("--epochs", type=int, help="--epochs of ganpat train [default: the recipe's]")
    args = parser.parse_args()
    options = ["--recipe", args.recipe] + (["--epochs", str(args.epochs)] if args.epochs else [])

    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}")
    print(f"pattern {args.pattern}, options {' '.join(options)}, seed 0, one torch thread, {args.rounds} rounds\n")
    runs: dict[str, list[tuple[float, float]]] = {"baseline": [], "snapshots": []}
    frames = 0
    with tempfile.TemporaryDirectory(prefix="ganpat-bench-") as scratch:
        for round_number in range(1, args.rounds + 1):
            wall, cpu, epochs, _ = train_once(args.pattern, options, None, Path(scratch) / "baseline")
            runs["baseline"].append((wall, cpu))
            print(f"round {round_number}: without snapshots  wall {wall:6.2f} s  CPU {cpu:6.2f} s  ({epochs} epochs)")
            wall, cpu, epochs, frames = train_once(args.pattern, options, args.every, Path(scratch) / "snapshots")
            runs["snapshots"].append((wall, cpu))
            print(f"round {round_number}: --snapshots {args.every:<5d}  wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
                  f"({epochs} epochs, {frames} frames)")  # fmt: skip

    medians = {
        mode: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for mode, values in runs.items()
    }
    (base_wall, base_cpu), (snap_wall, snap_cpu) = medians["baseline"], medians["snapshots"]
    run = " ".join([args.pattern, *options])
    print()
    print("| run | median wall time | wall ratio | median CPU time | CPU ratio |")
    print("|---|---|---|---|---|")
    print(f"| `ganpat train {run}` (baseline) | {base_wall:.2f} s | 1.00 | {base_cpu:.2f} s | 1.00 |")
    print(f"| `ganpat train {run} --snapshots {args.every}` | {snap_wall:.2f} s | {snap_wall / base_wall:.2f} "
          f"| {snap_cpu:.2f} s | {snap_cpu / base_cpu:.2f} |")  # fmt: skip
    print(f"\nextra CPU time: {snap_cpu - base_cpu:.2f} s for {frames} frames and the GIF, matplotlib import included")


if __name__ == "__main__":
    main()
