"""The plotter contract: how a plugin draws a picture of a generator or a training log.

A plugin registers a :class:`Plotter` instance through the ``register_plotters``
hook. ganpat creates a matplotlib ``Figure`` of :attr:`Plotter.figure_size`
inches, calls :meth:`Plotter.draw` once with the data, and saves the figure
itself (atomically, at :data:`DPI`, in the format the file's suffix names). A
plotter never creates, saves or shows a figure on its own.

Plotters receive numpy arrays and plain numbers, never tensors, so a plotter
module can be imported without torch. This module imports neither torch nor
matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import numpy as np

    from ganpat.pattern import Pattern

# resolution of saved raster pictures: a figure of (w, h) inches becomes (w * DPI, h * DPI) pixels
DPI = 100

# Plotter.source values
SAMPLES = "samples"
TRAINING_LOG = "training-log"


@dataclass
class SampleView:
    """Generated and real samples of one pattern, decoded, for a plotter with ``source = "samples"``."""

    pattern: Pattern
    # decoded generated samples, shape (n, len(pattern.columns)); pattern.invalid_value marks undecodable rows
    generated: np.ndarray
    # decoded real samples drawn from pattern.sample, same layout as ``generated``
    real: np.ndarray
    # the pattern's quality metrics measured on the generated samples
    metrics: Mapping[str, float]
    # training epoch that produced the generator; None for a saved model
    epoch: int | None = None
    # short name of what is shown, such as the model file name
    label: str = ""


@dataclass
class LogView:
    """The quality checks of one training run, for a plotter with ``source = "training-log"``."""

    # one dict per quality check, in training order, as the JSON Lines training log stores them:
    # epoch, step, d_loss, g_loss, score, target_met, plus the pattern's metrics by name
    records: list[dict[str, Any]]
    # name of the pattern trained, when known
    pattern_name: str | None = None
    # short name of what is shown, such as the log file name
    label: str = ""
    # names of the pattern's metrics found in the records
    metric_names: list[str] = field(default_factory=list)


class Plotter:
    """Base class for a plotter.

    Subclasses set :attr:`name` and :attr:`description`, choose :attr:`source`,
    and implement :meth:`draw`. ganpat calls :meth:`unsupported_reason` before it
    passes a pattern's samples to a sample plotter.
    """

    # lower-case words joined by hyphens, unique across all plugins
    name: str = ""
    # one line shown by ``ganpat list-plotters``
    description: str = ""
    # what draw() receives: SAMPLES (a SampleView) or TRAINING_LOG (a LogView)
    source: str = SAMPLES
    # figure width and height in inches; saved PNGs are figure_size * DPI pixels
    figure_size: tuple[float, float] = (8.0, 6.0)
    # generated (and real) samples drawn when ``ganpat plot`` gets no -n
    default_samples: int = 2000

    def unsupported_reason(self, pattern: Pattern) -> str | None:
        """Return why this plotter cannot draw ``pattern`` (one sentence, naming a fix), or None when it can."""
        return None

    def draw(self, figure: Any, data: SampleView | LogView) -> None:
        """Draw ``data`` on the empty matplotlib ``figure``, adding axes as needed.

        ``data`` is a SampleView when :attr:`source` is SAMPLES and a LogView when
        it is TRAINING_LOG. Raise ganpat.errors.GanpatError, with the reason in
        its message, for data the plotter cannot show.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Plotter {self.name}>"
