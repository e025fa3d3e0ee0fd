"""A rich progress bar for training, driven by the engine's callbacks."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Column

from ganpat.metric_text import format_metrics
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainingProgress:
    """Shows epoch, losses, the latest quality metrics and time left on stderr."""

    def __init__(self, console: Console, pattern_name: str) -> None:
        # every column keeps its full width except the losses and metrics, which take the
        # width that is left and are cut short on a narrow terminal
        fixed = {"table_column": Column(no_wrap=True)}
        self.progress = Progress(
            TextColumn("[bold]{task.description}", **fixed),
            BarColumn(bar_width=16, **fixed),
            TextColumn("epoch", **fixed),
            MofNCompleteColumn(**fixed),
            TextColumn(
                "D {task.fields[d_loss]} G {task.fields[g_loss]} {task.fields[quality]}",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=8),
            ),
            TimeElapsedColumn(**fixed),
            TextColumn("/ at most", **fixed),
            TimeRemainingColumn(**fixed),
            console=console,
            transient=False,
            expand=True,
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
            quality="",
        )

    def on_epoch_end(self, trainer: Any) -> None:
        self.progress.update(self.task, completed=trainer.epoch)

    def on_check(self, trainer: Any, record: Any) -> None:
        self.progress.update(
            self.task,
            d_loss=f"{record.d_loss:.3f}",
            g_loss=f"{record.g_loss:.3f}",
            quality=format_metrics(record.metrics),
        )

    def on_end(self, trainer: Any, result: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()
