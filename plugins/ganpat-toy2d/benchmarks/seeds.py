"""Train a toy pattern's default recipe on several seeds and print a per-seed table.

Each run goes through the same code as ``ganpat train`` and ``ganpat evaluate``
(10,000 samples, noise seed 0). Usage::

    OMP_NUM_THREADS=1 python benchmarks/seeds.py ring-8 grid-25 --seeds 0-9 --json results.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from ganpat.evaluation import evaluate, open_model
from ganpat.training import TrainRequest, train


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(seed) for seed in text.split(",")]


def run_one(pattern: str, seed: int, folder: Path) -> dict[str, object]:
    started = time.perf_counter()
    outcome = train(TrainRequest(pattern, out=folder / f"{pattern}-{seed}.pt", seed=seed, device="cpu"))
    loaded, found = open_model(outcome.path, None)
    evaluation = evaluate(loaded, found)
    return {
        "pattern": pattern,
        "seed": seed,
        "epochs_run": outcome.result.epochs_run,
        "stop_reason": outcome.result.stop_reason,
        "seconds": round(time.perf_counter() - started, 1),
        "target_met": evaluation.target_met,
        **evaluation.metrics,
    }


def print_table(rows: list[dict[str, object]]) -> None:
    print("| pattern | seed | modes | high_quality | tv_modes | epochs | stopped by | seconds | target met |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    for row in rows:
        modes = f"{int(row['modes_captured'])}/{int(row['modes_total'])}"  # type: ignore[call-overload]
        print(
            f"| {row['pattern']} | {row['seed']} | {modes} | {row['high_quality']:.3f} | {row['tv_modes']:.3f} "
            f"| {row['epochs_run']} | {row['stop_reason']} | {row['seconds']} | {'yes' if row['target_met'] else 'no'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="+")
    parser.add_argument("--seeds", default="0-9", help="a range such as 0-9 or a list such as 0,3,5")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for pattern in args.patterns:
            for seed in parse_seeds(args.seeds):
                rows.append(run_one(pattern, seed, Path(folder)))
                print(json.dumps(rows[-1]), flush=True)
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
