"""The density plotter: contours of the real density behind the generated samples.

numpy and matplotlib are imported inside :meth:`DensityPlotter.draw`, so
registering the plotter stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganpat.metric_text import metric_text
from ganpat.plotter import LogView, Plotter, SampleView

if TYPE_CHECKING:
    from ganpat.pattern import Pattern

# histogram cells per axis used to estimate the real density
BINS = 120


class DensityPlotter(Plotter):
    """Filled contours of a 2-D histogram of the real samples, with the generated samples on top."""

    name = "density"
    description = "contours of the real samples' density with the generated samples on top (2-D patterns)"
    default_samples = 5000

    def unsupported_reason(self, pattern: Pattern) -> str | None:
        if len(pattern.columns) == 2 and pattern.invalid_value is None:
            return None
        return f"plotter density draws 2-D points, but pattern {pattern.name} decodes to {len(pattern.columns)} value(s)"

    def draw(self, figure: Any, data: SampleView | LogView) -> None:
        assert isinstance(data, SampleView)
        import numpy as np

        pattern, real, generated = data.pattern, data.real, data.generated
        limits = pattern.plot_limits()
        if limits is None:
            limits = ((float(real[:, 0].min()), float(real[:, 0].max())), (float(real[:, 1].min()), float(real[:, 1].max())))
        (x_low, x_high), (y_low, y_high) = limits
        axes = figure.add_subplot()

        # the real density, as the log of a histogram, so narrow modes and thin curves stay visible
        counts, x_edges, y_edges = np.histogram2d(
            real[:, 0], real[:, 1], bins=BINS, range=[[x_low, x_high], [y_low, y_high]]
        )
        x_centres = (x_edges[:-1] + x_edges[1:]) / 2
        y_centres = (y_edges[:-1] + y_edges[1:]) / 2
        axes.contourf(x_centres, y_centres, np.log1p(counts.T), levels=8, cmap="Blues")
        axes.scatter(generated[:, 0], generated[:, 1], s=4, c="tab:orange", alpha=0.6, linewidths=0,
                     label=f"generated samples ({len(generated)})")  # fmt: skip
        axes.set_xlim(x_low, x_high)
        axes.set_ylim(y_low, y_high)
        axes.set_aspect("equal")
        axes.set_xlabel(pattern.columns[0])
        axes.set_ylabel(pattern.columns[1])

        title = f"{pattern.name}: generated samples over the real density ({len(real)} real samples)"
        if data.epoch is not None:
            title += f", epoch {data.epoch}"
        figure.suptitle(title)
        captions = ((name, metric_text(name, data.metrics)) for name in data.metrics)
        axes.set_title("   ".join(f"{name} {text}" for name, text in captions if text is not None), fontsize="small")
        figure.legend(loc="outside lower center")
