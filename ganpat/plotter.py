"""The plotter contract: how a plugin draws a picture of a generator or a training log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganpat.pattern import Pattern


class Plotter:
    """Base class for a plotter."""

    name: str = ""
    description: str = ""

    def unsupported_reason(self, pattern: Pattern) -> str | None:
        """Return why this plotter cannot draw ``pattern``, or None when it can."""
        return None

    def draw(self, figure: Any, **data: Any) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Plotter {self.name}>"
