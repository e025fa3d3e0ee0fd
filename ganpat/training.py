"""`ganpat train`: choose the recipe, run the engine, and save the generator, its log and checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ganpat import __version__, plugins, signals
from ganpat.engine import CheckRecord, Trainer, TrainResult
from ganpat.errors import InvalidSamples, UsageProblem
from ganpat.pattern import Pattern
from ganpat.persistence import (
    atomic_write,
    check_writable,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    save_torchscript,
)
from ganpat.recipe import Recipe

# seconds between checkpoint writes during training
CHECKPOINT_INTERVAL = 10.0
# request fields that override the recipe, and their options, which a resumed run must repeat
RECIPE_OPTIONS = {"batch_size": "--batch-size", "lr": "--lr", "patience": "--patience"}
# how a finished run's stop reason reads in a message
STOP_TEXT = {"target": "it stopped at the target", "patience": "its patience ran out"}


@dataclass
class TrainRequest:
    """The options of one ``ganpat train`` run; None means the recipe's value."""

    pattern: str
    out: Path | None = None
    recipe: str = "default"
    arch: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    patience: int | None = None
    seed: int = 0
    device: str = "auto"
    resume: bool = False


@dataclass
class TrainOutcome:
    result: TrainResult
    path: Path
    log_path: Path
    metadata: dict[str, Any]
    requested_batch_size: int
    # for an interrupted run, the epoch of the checkpoint that --resume continues from, or None without one
    checkpoint_epoch: int | None = None


def default_model_path(pattern_name: str) -> Path:
    return Path("files") / f"{pattern_name}.pt"


def log_path_for(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".log.jsonl")


def build_recipe(pattern: Pattern, request: TrainRequest) -> Recipe:
    """Return the named recipe of ``pattern`` with the request's overrides applied."""
    if request.recipe not in pattern.recipes:
        names = ", ".join(sorted(pattern.recipes))
        raise UsageProblem(f"pattern {pattern.name} has no recipe {request.recipe!r}; its recipes: {names}")
    recipe = pattern.recipes[request.recipe]
    changes: dict[str, Any] = {}
    if request.arch is not None:
        changes["architecture"] = request.arch
        if request.arch != recipe.architecture:
            # options of the recipe's own architecture do not carry over to another one
            changes["arch_options"] = {}
    if request.epochs is not None:
        changes["epochs"] = request.epochs
    if request.batch_size is not None:
        changes["batch_size"] = request.batch_size
    if request.lr is not None:
        changes["lr_g"] = request.lr
        changes["lr_d"] = request.lr
    if request.patience is not None:
        changes["patience"] = request.patience
    return recipe.replace(**changes)


class TrainingLog:
    """Writes one JSON line per quality check to a temporary file that becomes the log at the end."""

    def __init__(self, path: Path, resume_epoch: int | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        self.temporary = Path(temporary)
        self.file = open(self.temporary, "a", encoding="utf-8")
        if resume_epoch is not None and path.exists():
            # keep the checks up to the checkpoint; later ones belong to epochs that run again
            with open(path, encoding="utf-8") as earlier:
                for line in earlier:
                    if line.strip() and json.loads(line)["epoch"] <= resume_epoch:
                        self.file.write(line if line.endswith("\n") else line + "\n")

    def on_check(self, trainer: Trainer, record: CheckRecord) -> None:
        self.file.write(json.dumps(record.to_dict()) + "\n")
        self.file.flush()

    def commit(self) -> None:
        """Write the log to its path as every output is written: through links, in place for a FIFO."""
        self.file.close()
        content = self.temporary.read_bytes()
        atomic_write(self.path, lambda target: target.write_bytes(content))
        self.discard()

    def discard(self) -> None:
        """Remove the temporary file; a committed log stays."""
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)


class PeriodicCheckpoint:
    """A training callback that saves the trainer's state at the first quality check, then at most once per CHECKPOINT_INTERVAL seconds."""

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = identity
        self.last: float | None = None
        self.epoch: int | None = None

    def on_check(self, trainer: Trainer, record: CheckRecord) -> None:
        if self.last is None or time.monotonic() - self.last >= CHECKPOINT_INTERVAL:
            self.save(trainer)

    def save(self, trainer: Trainer, stop_reason: str | None = None) -> None:
        """Write the checkpoint; ``stop_reason`` marks the final one of a run that ended on its own."""
        state = {"identity": self.identity, "trainer": trainer.state_dict()}
        if stop_reason is not None:
            state["stop_reason"] = stop_reason
        save_checkpoint(state, self.path)
        self.last = time.monotonic()
        self.epoch = trainer.epoch


def train(request: TrainRequest, callbacks: list[Any] | None = None) -> TrainOutcome:
    """Train a generator for ``request`` and save it; raise GanpatError on failure."""
    from ganpat.devices import resolve_device

    registry = plugins.registry()
    pattern = registry.pattern(request.pattern)
    recipe = build_recipe(pattern, request)
    architecture = registry.architecture(recipe.architecture)
    device = resolve_device(request.device)
    out = request.out or default_model_path(pattern.name)
    if out.is_dir():
        raise UsageProblem(f"--out {out} is a folder; give a file name such as {out / (pattern.name + '.pt')}")
    check_writable(out)
    identity = {
        "pattern": pattern.name,
        "architecture": recipe.architecture,
        "recipe": recipe.name,
        "seed": request.seed,
        # the options that change the recipe, None where not given (--epochs is left out, because it may grow on resume)
        **{key: getattr(request, key) for key in RECIPE_OPTIONS},
    }

    # build the trainer, restoring its state when resuming
    plugin = registry.pattern_plugin(pattern.name)
    try:
        trainer = Trainer(pattern, architecture, recipe, seed=request.seed, device=device)
    except (ValueError, TypeError) as error:
        raise UsageProblem(f"cannot build {recipe.architecture} for {pattern.name}: {error}") from None
    except InvalidSamples as error:
        raise InvalidSamples(f"plugin {plugin}: {error}") from None
    ckpt_path = checkpoint_path(out)
    if request.resume:
        _resume(trainer, ckpt_path, identity)

    # checkpoints during the run go to a side file, so the one beside an existing generator survives a failure
    log = TrainingLog(log_path_for(out), resume_epoch=trainer.epoch if request.resume else None)
    partial = ckpt_path.with_name(ckpt_path.name + ".partial")
    checkpoint = PeriodicCheckpoint(partial, identity)
    # the checkpoint comes before the log line, so a log line means a checkpoint exists
    trainer.callbacks = [checkpoint, log, *(callbacks or [])]
    existed = out.exists()
    try:
        result = trainer.run()
    except BaseException as error:
        log.discard()
        _remove(partial)
        if isinstance(error, InvalidSamples):
            raise InvalidSamples(f"plugin {plugin}: {error}") from None
        raise

    # an interrupted run never replaces a generator, log or checkpoint that was already there
    path = out
    if result.interrupted and existed:
        path = interrupted_path(out)
    log.path = log_path_for(path)
    metadata = build_metadata(pattern, recipe, request, result, log.path, device)
    # the generator, its log and its checkpoint are saved together, so a stop signal waits for all three
    with signals.deferred():
        try:
            save_torchscript(result.generator, path, metadata)
            log.commit()
            # an interrupted trainer stopped inside an epoch, so keep the last checkpoint taken between epochs
            if result.interrupted:
                if partial.exists():
                    os.replace(partial, checkpoint_path(path))
            else:
                checkpoint.path = checkpoint_path(path)
                checkpoint.save(trainer, result.stop_reason)
        finally:
            log.discard()
            _remove(partial)
    # an interrupted run keeps the last checkpoint written during training, if there was one
    checkpoint_epoch = checkpoint.epoch if result.interrupted else None
    return TrainOutcome(result, path, log.path, metadata, recipe.batch_size, checkpoint_epoch)


def interrupted_path(out: Path) -> Path:
    """Return the first free name for an interrupted run beside ``out``: NAME.interrupted.pt, then NAME.interrupted-2.pt, ..."""
    number = 1
    while True:
        tag = ".interrupted" if number == 1 else f".interrupted-{number}"
        path = out.with_name(out.stem + tag + out.suffix)
        # the folder is where --seeds --save-all puts each seed of that run
        names_in_use = (path, log_path_for(path), checkpoint_path(path), path.with_suffix(""))
        if not any(name.exists() for name in names_in_use):
            return path
        number += 1


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _resume(trainer: Trainer, path: Path, identity: dict[str, Any]) -> None:
    saved = load_checkpoint(path)
    saved_identity = saved.get("identity", {})
    fixes = {
        "pattern": "resume with 'ganpat train {value} --resume'",
        "recipe": "add --recipe {value}",
        "architecture": "add --arch {value}",
        "seed": "add --seed {value}",
    }
    for key, fix in fixes.items():
        value = saved_identity.get(key)
        if value != identity[key]:
            raise UsageProblem(
                f"cannot resume: checkpoint {path} was made with {key} {value!r}, not {identity[key]!r}; "
                f"{fix.format(value=value)}, or start over without --resume"
            )
    for key, flag in RECIPE_OPTIONS.items():
        # checkpoints written before these options were recorded have no entry, and are not checked
        if key not in saved_identity or saved_identity[key] == identity[key]:
            continue
        recorded, requested = saved_identity[key], identity[key]
        fix = f"drop {flag}" if recorded is None else f"add {flag} {recorded}"
        raise UsageProblem(
            f"cannot resume: checkpoint {path} was made with {_option_text(flag, recorded)}, "
            f"not {_option_text(flag, requested)}; {fix}, or start over without --resume"
        )
    finished = saved.get("stop_reason")
    if finished in ("target", "patience"):
        raise UsageProblem(
            f"cannot resume: the run in {path} already finished ({STOP_TEXT[finished]}); "
            "start over without --resume to train again"
        )
    trainer.load_state_dict(saved["trainer"])
    if trainer.epoch >= trainer.recipe.epochs:
        raise UsageProblem(
            f"cannot resume: the checkpoint already ran {trainer.epoch} epochs and --epochs is "
            f"{trainer.recipe.epochs}; --epochs counts the whole run, so raise it"
        )


def _option_text(flag: str, value: Any) -> str:
    """Return how a command line gives ``value`` for ``flag``: ``--lr 0.01``, or ``no --lr`` for None."""
    return f"no {flag}" if value is None else f"{flag} {value}"


def build_metadata(
    pattern: Pattern,
    recipe: Recipe,
    request: TrainRequest,
    result: TrainResult,
    log_path: Path,
    device: torch.device,
) -> dict[str, Any]:
    return {
        "format": "ganpat-generator",
        "format_version": 1,
        "pattern": pattern.name,
        "pattern_plugin": plugins.registry().pattern_plugin(pattern.name),
        "pattern_params": dict(pattern.params),
        "sample_shape": list(pattern.sample_shape),
        "columns": list(pattern.columns),
        "latent_size": result.latent_size,
        "latent_distribution": "normal",
        "architecture": recipe.architecture,
        "recipe": recipe.to_dict(),
        "batch_size_used": result.batch_size,
        "seed": request.seed,
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "interrupted": result.interrupted,
        "best_score": result.best_score,
        "metrics": result.best_metrics,
        "target_met": result.target_met,
        "elapsed_seconds": round(result.elapsed, 3),
        "training_log": log_path.name,
        "ganpat_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }

