"""Training checkpoints for --resume: a Trainer's whole state as tensors and plain values, and back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ganpat.engine import Trainer


def capture(trainer: Trainer) -> dict[str, Any]:
    """Return everything ``trainer`` needs to continue where it is."""
    running = time.perf_counter() - trainer._run_started if trainer._run_started else 0.0
    state: dict[str, Any] = {
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        "opt_g": trainer.opt_g.state_dict(),
        "opt_d": trainer.opt_d.state_dict(),
        "epoch": trainer.epoch,
        "step": trainer.step,
        "best_score": trainer.best_score,
        "best_state": trainer.best_state,
        "best_metrics": trainer.best_metrics,
        "best_epoch": trainer.best_epoch,
        "last_improvement": trainer.last_improvement,
        "target_streak": trainer.target_streak,
        "elapsed": trainer.elapsed_before + running,
        "history": [record.to_dict() for record in trainer.history],
        "rng_cpu": torch.get_rng_state(),
        "rng_data": trainer.data_generator.get_state(),
    }
    if trainer.ema is not None:
        state["ema"] = trainer.ema.state_dict()
    if trainer.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(trainer.device)
    return state


def restore(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put ``trainer`` back in the state that :func:`capture` returned."""
    trainer.generator.load_state_dict(state["generator"])
    trainer.discriminator.load_state_dict(state["discriminator"])
    trainer.opt_g.load_state_dict(state["opt_g"])
    trainer.opt_d.load_state_dict(state["opt_d"])
    if trainer.ema is not None and "ema" in state:
        trainer.ema.load_state_dict(state["ema"])
    trainer.epoch = int(state["epoch"])
    trainer.step = int(state["step"])
    trainer.best_score = float(state["best_score"])
    trainer.best_state = state["best_state"]
    trainer.best_metrics = dict(state["best_metrics"])
    trainer.best_epoch = int(state["best_epoch"])
    trainer.last_improvement = int(state["last_improvement"])
    trainer.target_streak = int(state["target_streak"])
    trainer.elapsed_before = float(state["elapsed"])
    torch.set_rng_state(state["rng_cpu"])
    trainer.data_generator.set_state(state["rng_data"])
    if "rng_cuda" in state and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"], trainer.device)
