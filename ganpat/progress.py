"""A rich progress bar for training, driven by the engine's callbacks."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainingProgress:
    """Shows epoch, losses, quality score and time left on stderr."""

    def __init__(self, console: Console, pattern_name: str) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("epoch"),
            MofNCompleteColumn(),
            TextColumn("D {task.fields[d_loss]} G {task.fields[g_loss]} score {task.fields[score]}"),
            TimeElapsedColumn(),
            TextColumn("/ at most"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.pattern_name = pattern_name
        self.task: Any = None

    def on_start(self, trainer: Any) -> None:
        self.progress.start()
        self.task = self.progress.add_task(
            self.pattern_name,
            total=trainer.recipe.epochs,
            completed=trainer.epoch,
            d_loss="-",
            g_loss="-",
            score="-",
        )

    def on_epoch_end(self, trainer: Any) -> None:
        self.progress.update(self.task, completed=trainer.epoch)

    def on_check(self, trainer: Any, record: Any) -> None:
        self.progress.update(
            self.task,
            d_loss=f"{record.d_loss:.3f}",
            g_loss=f"{record.g_loss:.3f}",
            score=f"{record.score:.4f}",
        )

    def on_end(self, trainer: Any, result: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()
