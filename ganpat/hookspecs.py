"""Hook specifications: the whole interface between ganpat and its plugins.

Each hook receives a ``register`` callback, which a plugin calls once per item it
provides. ganpat validates each item as it arrives and rejects a duplicate name with
an error that names both plugins. Built-in patterns, architectures and plotters
use these same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from ganpat.architecture import Architecture
    from ganpat.pattern import Pattern, PatternFamily
    from ganpat.plotter import Plotter

hookspec = pluggy.HookspecMarker("ganpat")


@hookspec
def register_patterns(register: Callable[[Pattern | PatternFamily], None]) -> None:
    """Register training patterns: call ``register(pattern)`` for each Pattern or PatternFamily."""


@hookspec
def register_architectures(register: Callable[[Architecture], None]) -> None:
    """Register generator/discriminator architectures: call ``register(architecture)`` for each."""


@hookspec
def register_plotters(register: Callable[[Plotter], None]) -> None:
    """Register plotters: call ``register(plotter)`` for each Plotter."""
