"""Built-in plugin: plotters (registered through the same hook as third-party ones)."""

from __future__ import annotations

from typing import Callable

from ganpat import hookimpl
from ganpat.plotter import Plotter


@hookimpl
def register_plotters(register: Callable[[Plotter], None]) -> None:
    return None
