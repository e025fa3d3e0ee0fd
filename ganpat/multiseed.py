"""Many seeds at once: ``--seeds`` parsing, training every seed in lockstep, and saving the results.

The training itself is :class:`~ganpat.lockstep.MultiSeedTrainer`. This module picks
the best seed and writes the TorchScript files and logs.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganpat import plugins, signals
from ganpat.engine import TrainResult
from ganpat.errors import GanpatError, UsageProblem
from ganpat.lockstep import MultiSeedTrainer
from ganpat.persistence import atomic_write, check_writable, checkpoint_path, save_torchscript
from ganpat.recipe import MAX_SEED
from ganpat.training import (
    TrainRequest,
    build_metadata,
    build_recipe,
    default_model_path,
    interrupted_path,
    log_path_for,
)

__all__ = ["MultiSeedTrainer", "MultiSeedOutcome", "SeedOutcome", "best_seed", "parse_seeds", "seed_file", "train_seeds"]

MAX_SEEDS = 1024
SEEDS_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seeds(text: str) -> list[int]:
    """Parse ``--seeds``: a count K (seeds 0..K-1), a range ``A-B`` (inclusive) or a comma list of both."""
    seeds: list[int] = []
    parts = [part.strip() for part in text.split(",")]
    for part in parts:
        found = SEEDS_RE.fullmatch(part)
        if found is None:
            raise UsageProblem(f"invalid --seeds {text!r}; use a count such as 16, a range such as 0-15, or 1,5,9")
        first, last = found.groups()
        if last is None and len(parts) == 1:
            low, high = 0, int(first) - 1
        elif last is None:
            low = high = int(first)
        else:
            low, high = int(first), int(last)
            if high < low:
                raise UsageProblem(f"invalid --seeds range {part!r}: the end is below the start; write it as low-high")
        # count before expanding, so that a huge count or range fails at once
        count = len(seeds) + high - low + 1
        if count > MAX_SEEDS:
            raise UsageProblem(f"--seeds {text!r} selects {count} seeds or more; the maximum is {MAX_SEEDS}")
        seeds += range(low, high + 1)
    if not seeds:
        raise UsageProblem(f"--seeds {text!r} selects no seeds; give a count of at least 1")
    if max(seeds) > MAX_SEED:
        raise UsageProblem(f"--seeds {text!r} goes past {MAX_SEED}, the largest seed; choose smaller seeds")
    if len(set(seeds)) != len(seeds):
        raise UsageProblem(f"--seeds {text!r} names a seed twice; list each seed once")
    return seeds


@dataclass
class SeedOutcome:
    """One seed's training result (None when it diverged) and the file it was saved to, if any."""

    seed: int
    result: TrainResult | None
    path: Path | None = None


@dataclass
class MultiSeedOutcome:
    seeds: list[SeedOutcome]
    best: SeedOutcome
    path: Path
    elapsed: float


def best_seed(outcomes: list[SeedOutcome]) -> SeedOutcome:
    """Return the seed that met the target with the best score, else the one with the best score."""
    finished = [o for o in outcomes if o.result is not None]
    if not finished:
        raise GanpatError("every seed diverged: its losses became NaN or infinite; try a lower --lr")
    return max(finished, key=lambda o: (o.result.target_met, o.result.best_score))  # type: ignore[union-attr]


def seed_file(out: Path, seed: int) -> Path:
    """Return where ``--save-all`` writes one seed: ``files/PATTERN/seed-NN.pt`` for ``--out files/PATTERN.pt``."""
    return out.with_suffix("") / f"seed-{seed:02d}{out.suffix or '.pt'}"


def train_seeds(request: TrainRequest, seeds: list[int], save_all: bool, callbacks: list[Any] | None = None) -> MultiSeedOutcome:
    """Train one GAN per seed at once, save the best to ``request.out`` and, with ``save_all``, every seed.

    Like ``ganpat generate``, this keeps glibc's malloc from handing freed buffers
    back to the kernel, for the rest of the process. The stacked activations of 16
    seeds are megabytes each, so otherwise every step faults their pages in afresh.
    For 16 seeds of the default recipes that was 500 to 1250 page faults and 12 to 22%
    of the step time (torch 2.13.0+cpu, one thread, 2-core AMD EPYC VM).
    """
    from ganpat.devices import resolve_device
    from ganpat.generation import keep_freed_memory

    if request.resume:
        raise UsageProblem("--resume does not work with --seeds; resume a single seed with --seed")
    pattern = plugins.registry().pattern(request.pattern)
    recipe = build_recipe(pattern, request)
    architecture = plugins.registry().architecture(recipe.architecture)
    device = resolve_device(request.device)
    out = request.out or default_model_path(pattern.name)
    if out.is_dir():
        raise UsageProblem(f"--out {out} is a folder; give a file name such as {out / (pattern.name + '.pt')}")
    check_writable(out)
    if save_all:
        # the seeds' folder is checked now, so that a bad path fails before training rather than after it
        check_writable(seed_file(out, seeds[0]))
    existed = out.exists() or (save_all and any(seed_file(out, seed).exists() for seed in seeds))
    keep_freed_memory()
    try:
        trainer = MultiSeedTrainer(pattern, architecture, recipe, seeds, device, callbacks)
    except (ValueError, TypeError) as error:
        raise UsageProblem(f"cannot build {recipe.architecture} for {pattern.name}: {error}") from None
    started = time.perf_counter()
    results = trainer.run()
    outcomes = [SeedOutcome(seed, result) for seed, result in zip(seeds, results)]
    best = best_seed(outcomes)
    # as for one seed, an interrupted run never replaces files that were already there
    if existed and any(o.result is not None and o.result.interrupted for o in outcomes):
        out = interrupted_path(out)

    def save(outcome: SeedOutcome, path: Path) -> None:
        assert outcome.result is not None
        seed_request = dataclasses.replace(request, seed=outcome.seed)
        log_path = log_path_for(path)
        metadata = build_metadata(pattern, recipe, seed_request, outcome.result, log_path, device)
        metadata["seeds_trained"] = list(seeds)
        lines = "".join(json.dumps(record.to_dict()) + "\n" for record in outcome.result.history)
        save_torchscript(outcome.result.generator, path, metadata)
        atomic_write(log_path, lambda temporary: temporary.write_text(lines, encoding="utf-8"))
        # a checkpoint left by an earlier single-seed run belongs to the generator just replaced,
        # and --resume would continue that other run over this one
        stale = checkpoint_path(path)
        if stale.exists():
            stale.unlink()
        outcome.path = path

    # every seed's files are saved together, so a stop signal waits until all are written
    with signals.deferred():
        if save_all:
            for outcome in outcomes:
                if outcome.result is not None:
                    save(outcome, seed_file(out, outcome.seed))
        best_path = best.path
        save(best, out)
    if save_all:
        best.path = best_path
    return MultiSeedOutcome(outcomes, best, out, time.perf_counter() - started)
