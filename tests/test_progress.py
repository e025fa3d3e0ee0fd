"""The training progress bar on narrow and wide terminals."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from ganpat.progress import TrainingProgress


def render(width: int) -> str:
    """Return the last line that the progress bar draws on a console ``width`` columns wide."""
    output = io.StringIO()
    progress = TrainingProgress(Console(file=output, width=width, force_terminal=False), "onehot-multiples-of-5")
    trainer = SimpleNamespace(recipe=SimpleNamespace(epochs=500), epoch=120)
    record = SimpleNamespace(d_loss=1.155, g_loss=0.908,
                             metrics={"in_range": 0.993, "on_curve": 0.963, "x_coverage_w1": 0.0123})  # fmt: skip
    progress.on_start(trainer)
    progress.on_check(trainer, record)
    progress.progress.refresh()
    progress.stop()
    return output.getvalue().splitlines()[-1]


@pytest.mark.parametrize("width", [80, 100])
def test_narrow_terminal_keeps_fixed_columns(width):
    line = render(width)
    assert "onehot-multiples-of-5" in line
    assert "epoch 120/500" in line
    assert "/ at most" in line
    assert len(line) <= width


def test_wide_terminal_shows_all_metrics():
    line = render(160)
    assert "D 1.155 G 0.908" in line
    assert "x_coverage_w1 0.012" in line
