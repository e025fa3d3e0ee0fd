"""Reports of a training run: one record per quality check, the final result, and the callback protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn

if TYPE_CHECKING:
    from ganpat.engine import Trainer


@dataclass
class CheckRecord:
    """The result of one quality check, also written as one line of the training log."""

    epoch: int
    step: int
    d_loss: float
    g_loss: float
    metrics: dict[str, float]
    score: float
    target_met: bool
    elapsed: float
    lr_g: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "d_loss": self.d_loss,
            "g_loss": self.g_loss,
            "score": self.score,
            "target_met": self.target_met,
            "elapsed": round(self.elapsed, 4),
            "lr_g": self.lr_g,
            **self.metrics,
        }


class Callback(Protocol):
    """Receives training events; every method is optional."""

    def on_start(self, trainer: Trainer) -> None: ...
    def on_epoch_end(self, trainer: Trainer) -> None: ...
    def on_check(self, trainer: Trainer, record: CheckRecord) -> None: ...
    def on_end(self, trainer: Trainer, result: TrainResult) -> None: ...


@dataclass
class TrainResult:
    generator: nn.Module
    latent_size: int
    best_score: float
    best_metrics: dict[str, float]
    best_epoch: int
    epochs_run: int
    steps: int
    stop_reason: str
    interrupted: bool
    elapsed: float
    target_met: bool
    batch_size: int
    data_mean: tuple[float, ...] | None = None
    data_std: tuple[float, ...] | None = None
    history: list[CheckRecord] = field(default_factory=list)
