"""ganpat: train small GANs on synthetic patterns from the command line.

Plugin authors import :data:`hookimpl` to mark their hook implementations.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("ganpat")

__all__ = ["__version__", "hookimpl"]
