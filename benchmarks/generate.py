"""Benchmark `ganpat generate`: throughput per format and peak memory against N.

Every measurement runs in its own child process, and its peak resident set size
(RSS) comes from ``os.wait4`` for that child alone. The baseline is the naive way:
generate all N samples in one call, then write them with ``np.savetxt`` (csv) or
``np.save`` (npy). The baseline runs up to the second-largest N only. The models are trained
for two epochs, because generation speed does not depend on their quality.

    python benchmarks/generate.py             # full run, N up to 10^7
    python benchmarks/generate.py --quick     # N up to 10^6
    python benchmarks/generate.py --pattern exponential
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

# Each child loads the model, then prints the seconds spent generating and writing.
STREAMED = """
import sys, time
from ganpat.evaluation import open_model
from ganpat.generation import write_samples
loaded, pattern = open_model(sys.argv[1], None)
n, fmt, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
started = time.perf_counter()
write_samples(loaded, pattern, n, fmt, out, 0, False)
print(time.perf_counter() - started)
"""

NAIVE = """
import sys, time, numpy as np, torch
from ganpat.evaluation import open_model
loaded, pattern = open_model(sys.argv[1], None)
n, fmt, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
started = time.perf_counter()
with torch.no_grad():
    samples = loaded.module(torch.randn(n, loaded.latent_size))
rows = pattern.decode(samples)
if fmt == "npy":
    np.save(out, rows)
else:
    np.savetxt(out, rows, fmt="%.7g", delimiter=",", header=",".join(pattern.columns), comments="")
print(time.perf_counter() - started)
"""


def run_child(script: str, model: Path, n: int, fmt: str, out: Path) -> tuple[float, float]:
    """Run ``script`` in a new process; return its generation seconds and its peak RSS in MB."""
    command = [sys.executable, "-c", script, str(model), str(n), fmt, str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert process.stdout is not None and process.stderr is not None
    if status != 0:
        raise SystemExit(f"{' '.join(command[:2])} ... failed:\n{process.stderr.read().decode()}")
    out.unlink()
    # ru_maxrss is in kilobytes on Linux
    return float(process.stdout.read()), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Stop at N = 10^6.")
    parser.add_argument(
        "--pattern", action="append", dest="patterns",
        help="Pattern to measure; repeat for several [default: exponential and onehot-multiples-of-5].",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        models = {}
        for pattern in args.patterns or ["exponential", "onehot-multiples-of-5"]:
            models[pattern] = folder / f"{pattern}.pt"
            subprocess.run(
                [sys.executable, "-m", "ganpat", "train", pattern, "--epochs", "2", "--quiet", "--out", str(models[pattern])],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        import torch

        print(f"torch {torch.__version__}")
        print("\nganpat generate, streamed in chunks (seconds exclude process start-up and model loading)")
        print(f"{'pattern':22} {'method':9} {'format':6} {'N':>9} {'seconds':>8} {'rows/s':>12} {'peak RSS MB':>12}")
        for pattern, model in models.items():
            for fmt in ("npy", "csv", "jsonl", "json"):
                peaks = []
                for n in sizes:
                    seconds, peak = run_child(STREAMED, model, n, fmt, folder / f"out.{fmt}")
                    peaks.append(peak)
                    print(f"{pattern:22} {'streamed':9} {fmt:6} {n:>9} {seconds:8.2f} {n / seconds:12,.0f} {peak:12.1f}")
                print(f"{pattern:22} {'streamed':9} {fmt:6} peak RSS spread over N: {max(peaks) - min(peaks):.1f} MB")
            for fmt in ("npy", "csv"):
                for n in sizes[:2]:
                    seconds, peak = run_child(NAIVE, model, n, fmt, folder / f"naive.{fmt}")
                    print(f"{pattern:22} {'naive':9} {fmt:6} {n:>9} {seconds:8.2f} {n / seconds:12,.0f} {peak:12.1f}")


if __name__ == "__main__":
    main()
