"""Train seeds with the default and the book recipe for each built-in pattern and tabulate quality.

Each run is `ganpat train PATTERN --seed S [--recipe book]` done in-process, then
`ganpat evaluate` (10,000 samples, seed 0) on the saved generator. Prints a
Markdown table of per-pattern success counts, metric medians and wall time, and
writes every run to a JSON file.

    python benchmarks/quality.py                      # defaults, seeds 0-9, all patterns
    python benchmarks/quality.py --recipe book --seeds 0-2 --patterns exponential,onehot-multiples-of-5
    python benchmarks/quality.py --batched --patterns sine   # all seeds at once, as `ganpat train --seeds`

With --batched, each pattern's seeds train together as one `ganpat train PATTERN --seeds A-B --save-all`
run, and a run's wall time is that run's time divided by the number of seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganpat.evaluation import evaluate, open_model
from ganpat.multiseed import train_seeds
from ganpat.training import TrainRequest, train

PATTERNS = [
    "onehot-multiples-of-5",
    "onehot-multiples-of-3",
    "onehot-multiples-of-7",
    "onehot-multiples-of-10",
    "onehot-multiples-of-25",
    "onehot-multiples-of-2",
    "onehot-multiples-of-1",
    "exponential",
    "inverted-u",
    "sine",
]


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in text.split(",")]


def run_one(pattern: str, recipe: str, seed: int, folder: Path, epochs: int | None) -> dict:
    out = folder / f"{pattern}-{recipe}-{seed}.pt"
    started = time.perf_counter()
    outcome = train(TrainRequest(pattern, out=out, recipe=recipe, seed=seed, device="cpu", epochs=epochs))
    wall = time.perf_counter() - started
    loaded, found = open_model(out, None)
    evaluation = evaluate(loaded, found)
    return {
        "pattern": pattern,
        "recipe": recipe,
        "seed": seed,
        "wall_seconds": round(wall, 2),
        "epochs": outcome.result.epochs_run,
        "steps": outcome.result.steps,
        "stop_reason": outcome.result.stop_reason,
        "metrics": evaluation.metrics,
        "target_met": evaluation.target_met,
    }


def run_batched(pattern: str, recipe: str, seeds: list[int], folder: Path, epochs: int | None) -> list[dict]:
    out = folder / f"{pattern}-{recipe}-batched.pt"
    request = TrainRequest(pattern, out=out, recipe=recipe, device="cpu", epochs=epochs)
    outcome = train_seeds(request, seeds, save_all=True)
    records = []
    for seed_outcome in outcome.seeds:
        record: dict = {"pattern": pattern, "recipe": f"{recipe}, batched", "seed": seed_outcome.seed}
        record["wall_seconds"] = round(outcome.elapsed / len(seeds), 2)
        if seed_outcome.result is None or seed_outcome.path is None:
            record.update(stop_reason="diverged", metrics={}, target_met=False)
            records.append(record)
            continue
        loaded, found = open_model(seed_outcome.path, None)
        evaluation = evaluate(loaded, found)
        result = seed_outcome.result
        record.update(
            epochs=result.epochs_run,
            steps=result.steps,
            stop_reason=result.stop_reason,
            metrics=evaluation.metrics,
            target_met=evaluation.target_met,
        )
        records.append(record)
    return records


def summarise(runs: list[dict]) -> str:
    lines = [
        "| pattern | recipe | seeds meeting target | median metrics | median wall s | max wall s |",
        "|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["pattern"], r["recipe"]) for r in runs}, key=lambda k: (PATTERNS.index(k[0]) if k[0] in PATTERNS else 99, k[1]))
    for pattern, recipe in keys:
        group = [r for r in runs if r["pattern"] == pattern and r["recipe"] == recipe]
        met = sum(r["target_met"] for r in group)
        measured = [r for r in group if r["metrics"]]
        names = [name for name in measured[0]["metrics"] if name != "modes_total"] if measured else []
        medians = []
        for name in names:
            value = statistics.median(r["metrics"][name] for r in measured)
            if name == "modes_covered":
                medians.append(f"{name} {value:g}/{measured[0]['metrics']['modes_total']:g}")
            else:
                medians.append(f"{name} {value:.4f}")
        walls = [r["wall_seconds"] for r in group]
        lines.append(
            f"| {pattern} | {recipe} | {met}/{len(group)} | {', '.join(medians)} | "
            f"{statistics.median(walls):.1f} | {max(walls):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", default=",".join(PATTERNS), help="comma-separated pattern names")
    parser.add_argument("--recipe", default="default", help="recipe name: default or book")
    parser.add_argument("--seeds", default="0-9", help="seed range A-B or comma list")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch ceiling")
    parser.add_argument("--batched", action="store_true", help="train each pattern's seeds at once with --seeds")
    parser.add_argument("--json", type=Path, default=Path("quality-runs.json"), help="file for every run's record")
    args = parser.parse_args()

    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        for pattern in args.patterns.split(","):
            seeds = parse_seeds(args.seeds)
            if args.batched:
                records = run_batched(pattern, args.recipe, seeds, Path(folder), args.epochs)
            else:
                records = [run_one(pattern, args.recipe, seed, Path(folder), args.epochs) for seed in seeds]
            for record in records:
                runs.append(record)
                print(json.dumps(record), flush=True)
    args.json.write_text(json.dumps(runs, indent=1))
    print()
    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    print(summarise(runs))


if __name__ == "__main__":
    main()
