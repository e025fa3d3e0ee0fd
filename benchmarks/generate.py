"""Benchmark `ganpat generate`: throughput per format, peak memory against N, and the limits.

Every measurement runs in its own child process, and its peak resident set size
(RSS) comes from ``os.wait4`` for that child alone. Each child times its work in
wall seconds and in CPU seconds of all its threads. CPU seconds near twice the wall
seconds mean that two cores were busy. CPU seconds well under the wall seconds mean
that other processes took the cores. Each line also shows how many worker threads
generated the chunks (``--workers``; ``auto`` is ``write_samples``' default, torch's
thread count capped at the available CPUs, so it follows the thread setting; a
generator that draws random numbers always gets one). A worker
runs torch with one intra-op thread, so the thread setting matters only where one
worker generates. Each child runs at two thread settings:
``OMP_NUM_THREADS=1`` (one torch intra-op thread, while ganpat's prefetch thread
still overlaps generation with writing) and torch's default (one thread per core).
A user's ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY`` are removed for the second
setting. ``--threads passive`` adds torch's default thread count with
``OMP_WAIT_POLICY=PASSIVE``, which makes OpenMP threads sleep instead of spin
while they wait at the end of a parallel operation. That matters where other
processes share the cores.

For each model the script also measures:
- the arithmetic bound: the generator's linear layers alone, on one chunk, at this
  machine's measured matrix-product speed;
- generation alone: the samples drawn and decoded, written nowhere;
- the naive way: generate all N samples in one call, then ``np.save`` (npy) or
  ``np.savetxt`` (csv), up to the second-largest N only, because it holds every
  sample and every activation in memory.

The models are trained for two epochs, because generation speed does not depend on
their quality. ``exponential:book`` is the book's small curve generator (2-16-32-2),
whose linear layers cost 1216 FLOP per row against 8704 for the default generator.

    python benchmarks/generate.py             # full run, N up to 10^7
    python benchmarks/generate.py --quick     # N up to 10^6
    python benchmarks/generate.py --model exponential --threads 1
    python benchmarks/generate.py --threads 1 --workers 1 --workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

FORMATS = ("npy", "csv", "jsonl", "json")

# Each child loads the model, then prints the wall and CPU seconds (all threads) spent generating and writing,
# and the number of worker threads that generated. Its last argument is the --workers value.
STREAMED = """
import sys, time
from ganpat.evaluation import open_model
from ganpat.generation import generation_workers, keep_freed_memory, write_samples
loaded, pattern = open_model(sys.argv[1], None)
n, fmt, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
requested = None if sys.argv[5] == "auto" else int(sys.argv[5])
keep_freed_memory()  # as `ganpat generate` does
started, cpu = time.perf_counter(), time.process_time()
write_samples(loaded, pattern, n, fmt, out, 0, False, "cpu", requested)
print(time.perf_counter() - started, time.process_time() - cpu, generation_workers(loaded, n, "cpu", requested))
"""

GENERATION_ONLY = """
import sys, time
from ganpat.evaluation import open_model
from ganpat.generation import generation_workers, keep_freed_memory, row_blocks
loaded, pattern = open_model(sys.argv[1], None)
n = int(sys.argv[2])
requested = None if sys.argv[3] == "auto" else int(sys.argv[3])
keep_freed_memory()
started, cpu = time.perf_counter(), time.process_time()
workers = generation_workers(loaded, n, "cpu", requested)
for block in row_blocks(loaded, pattern, n, 0, False, "cpu", workers):
    pass
print(time.perf_counter() - started, time.process_time() - cpu, workers)
"""

NAIVE = """
import sys, time, numpy as np, torch
from ganpat.evaluation import open_model
loaded, pattern = open_model(sys.argv[1], None)
n, fmt, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
started, cpu = time.perf_counter(), time.process_time()
with torch.no_grad():
    samples = loaded.module(torch.randn(n, loaded.latent_size))
rows = pattern.decode(samples)
if fmt == "npy":
    np.save(out, rows)
else:
    np.savetxt(out, rows, fmt="%.7g", delimiter=",", header=",".join(pattern.columns), comments="")
print(time.perf_counter() - started, time.process_time() - cpu, 1)
"""

# Prints FLOPs per row, then for each linear layer its shape, seconds per chunk and GFLOP/s.
ARITHMETIC = """
import sys, time, torch
from ganpat.generation import CHUNK
from ganpat.persistence import load_generator
loaded = load_generator(sys.argv[1])
weights = [p for name, p in loaded.module.named_parameters() if name.endswith("weight") and p.dim() == 2]
print(sum(2 * w.shape[0] * w.shape[1] for w in weights))
with torch.inference_mode():
    for weight in weights:
        x = torch.randn(CHUNK, weight.shape[1])
        bias = torch.randn(weight.shape[0])
        for _ in range(3):
            torch.nn.functional.linear(x, weight, bias)
        best = float("inf")
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(10):
                torch.nn.functional.linear(x, weight, bias)
            best = min(best, (time.perf_counter() - started) / 10)
        flops = 2 * CHUNK * weight.shape[0] * weight.shape[1]
        print(weight.shape[1], weight.shape[0], best, flops / best / 1e9)
"""


def child_env(threads: str) -> dict[str, str]:
    """Return the environment for a child at thread setting ``threads`` ("1", "default" or "passive")."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("OMP_WAIT_POLICY", None)
    if threads == "1":
        env["OMP_NUM_THREADS"] = "1"
    elif threads == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def run_child(script: str, threads: str, *args: str) -> tuple[str, float]:
    """Run ``script`` in a new process; return its output and its peak RSS in MB."""
    command = [sys.executable, "-c", script, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(threads))
    # wait4 reaps the child and returns its resource usage. The output is a few lines, so it fits in the pipe buffer.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} ... failed:\n{stderr.decode()}")
    # ru_maxrss is in kilobytes on Linux
    return stdout.decode(), usage.ru_maxrss / 1024


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train(spec: str, folder: Path) -> Path:
    """Train the model ``PATTERN`` or ``PATTERN:RECIPE`` for two epochs and return its file."""
    pattern, _, recipe = spec.partition(":")
    model = folder / f"{spec.replace(':', '-')}.pt"
    command = [sys.executable, "-m", "ganpat", "train", pattern, "--epochs", "2", "--quiet", "--out", str(model)]
    if recipe:
        command += ["--recipe", recipe]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=child_env("1"))
    return model


def report_arithmetic(spec: str, model: Path, threads: str) -> None:
    output, _ = run_child(ARITHMETIC, threads, str(model))
    lines = output.split("\n")
    flops = int(lines[0])
    seconds = 0.0
    for line in filter(None, lines[1:]):
        width_in, width_out, chunk_seconds, gflops = line.split()
        seconds += float(chunk_seconds)
        print(f"  {spec} threads={threads}: linear {width_in}->{width_out}: {float(gflops):6.1f} GFLOP/s")
    from ganpat.generation import CHUNK

    print(
        f"  {spec} threads={threads}: {flops} FLOP per row; matrix products alone allow "
        f"{CHUNK / seconds:,.0f} rows/s; 10 M rows/s needs {flops * 1e7 / 1e9:.0f} GFLOP/s"
    )


def report_line(spec: str, method: str, threads: str, fmt: str, n: int, output: str, peak: float) -> None:
    seconds, cpu, workers = (float(word) for word in output.split())
    print(
        f"{spec:24} {method:10} {threads:>7} {int(workers):>7} {fmt:6} {n:>9} {seconds:8.2f} {n / seconds:12,.0f} "
        f"{cpu:8.2f} {peak:9.1f} {os.getloadavg()[0]:6.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Stop at N = 10^6.")
    parser.add_argument(
        "--model", action="append", dest="models",
        help="PATTERN or PATTERN:RECIPE to train and measure; repeat for several "
        "[default: exponential and exponential:book].",
    )  # fmt: skip
    parser.add_argument(
        "--threads", action="append", choices=["1", "default", "passive"],
        help="Thread setting to measure; repeat for several. passive is the default thread count with "
        "OMP_WAIT_POLICY=PASSIVE [default: 1 and default].",
    )  # fmt: skip
    parser.add_argument(
        "--workers", action="append", choices=["auto", "1", "2", "3", "4"],
        help="Worker threads for streamed generation; repeat for several. auto follows the torch thread setting [default: auto].",
    )  # fmt: skip
    parser.add_argument(
        "--format", action="append", dest="formats", choices=FORMATS,
        help="Output format to stream; repeat for several [default: all four].",
    )  # fmt: skip
    parser.add_argument("--folder", type=Path, help="Folder for the output files [default: a new temporary folder].")
    args = parser.parse_args()
    sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    thread_settings = args.threads or ["1", "default"]
    worker_settings = args.workers or ["auto"]

    import numpy
    import torch

    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} available), Python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    with tempfile.TemporaryDirectory(dir=args.folder) as name:
        folder = Path(name)
        print(f"output folder: {folder}")
        models = {spec: train(spec, folder) for spec in args.models or ["exponential", "exponential:book"]}

        print("\narithmetic bound (one chunk through each linear layer)")
        for spec, model in models.items():
            for threads in thread_settings:
                report_arithmetic(spec, model, threads)

        print("\nseconds exclude process start-up and model loading; cpu s is the CPU time of all threads over those seconds;")
        print("load is the 1-minute load average just after the child ended")
        print(f"{'model':24} {'method':10} {'threads':>7} {'workers':>7} {'format':6} {'N':>9} {'seconds':>8} {'rows/s':>12} {'cpu s':>8} {'peak MB':>9} {'load':>6}")
        for spec, model in models.items():
            for threads in thread_settings:
                for workers in worker_settings:
                    output, peak = run_child(GENERATION_ONLY, threads, str(model), str(sizes[-1]), workers)
                    report_line(spec, "generation", threads, "-", sizes[-1], output, peak)
                    for fmt in args.formats or FORMATS:
                        peaks = []
                        for n in sizes:
                            out = folder / f"out.{fmt}"
                            output, peak = run_child(STREAMED, threads, str(model), str(n), fmt, str(out), workers)
                            out.unlink()
                            peaks.append(peak)
                            report_line(spec, "streamed", threads, fmt, n, output, peak)
                        spread = max(peaks) - min(peaks)
                        print(f"{spec:24} {'streamed':10} {threads:>7} {workers:>7} {fmt:6} peak RSS spread over N: {spread:.1f} MB")
                for fmt in ("npy", "csv"):
                    for n in sizes[:2]:
                        out = folder / f"naive.{fmt}"
                        output, peak = run_child(NAIVE, threads, str(model), str(n), fmt, str(out))
                        out.unlink()
                        report_line(spec, "naive", threads, fmt, n, output, peak)

    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
