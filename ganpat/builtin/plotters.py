"""Built-in plugin: the scatter, histogram and losses plotters.

They register through the same ``register_plotters`` hook as third-party
plotters and use only the contract in ganpat.plotter. numpy and matplotlib are
imported inside the drawing code, so listing plotters stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from ganpat import hookimpl
from ganpat.errors import GanpatError
from ganpat.plotter import TRAINING_LOG, LogView, Plotter, SampleView

if TYPE_CHECKING:
    import numpy as np

    from ganpat.pattern import Pattern

# blank space added around a pattern's plot limits, as a fraction of each span
MARGIN = 0.05
REAL_COLOUR = "red"
GENERATED_COLOUR = "green"
VALID_COLOUR = "tab:blue"
INVALID_COLOUR = "tab:orange"


def _title(pattern_name: str, subject: str, epoch: int | None, label: str) -> str:
    title = f"{pattern_name}: {subject}"
    if epoch is not None:
        title += f", epoch {epoch}"
    return f"{title} ({label})" if label else title


def _metrics_text(metrics: Mapping[str, float]) -> str:
    return "   ".join(f"{name} {value:.4f}" for name, value in metrics.items())


def _suggest_default(pattern: Pattern, plotter_name: str) -> str:
    if pattern.default_plotter and pattern.default_plotter != plotter_name:
        return f"; use --plotter {pattern.default_plotter}"
    return ""


def _decoded_width(pattern: Pattern) -> int:
    if pattern.columns:
        return len(pattern.columns)
    width = 1
    for size in pattern.sample_shape:
        width *= size
    return width


class ScatterPlotter(Plotter):
    """The book's picture: real samples as faint red dots, generated samples as green stars."""

    name = "scatter"
    description = "real samples as faint red dots and generated samples as green stars (2-D patterns)"
    default_samples = 2000

    def unsupported_reason(self, pattern: Pattern) -> str | None:
        width = _decoded_width(pattern)
        if width == 2 and pattern.invalid_value is None:
            return None
        return (
            f"plotter scatter draws 2-D points, but pattern {pattern.name} has samples of shape "
            f"{tuple(pattern.sample_shape)} that decode to {width} value(s)"
            + _suggest_default(pattern, self.name)
        )

    def draw(self, figure: Any, data: SampleView | LogView) -> None:
        assert isinstance(data, SampleView)
        pattern, real, generated = data.pattern, data.real, data.generated
        (x_low, x_high), (y_low, y_high) = _limits(pattern, real)
        axes = figure.add_subplot()

        # real points first, so the generated stars are drawn over them
        axes.scatter(real[:, 0], real[:, 1], s=8, c=REAL_COLOUR, alpha=0.25, linewidths=0,
                     label=f"real samples ({len(real)})")  # fmt: skip
        axes.scatter(generated[:, 0], generated[:, 1], s=20, c=GENERATED_COLOUR, marker="*", linewidths=0,
                     label=f"generated samples ({len(generated)})")  # fmt: skip
        axes.set_xlim(x_low, x_high)
        axes.set_ylim(y_low, y_high)
        names = pattern.columns if len(pattern.columns) == 2 else ("v0", "v1")
        axes.set_xlabel(names[0])
        axes.set_ylabel(names[1])
        axes.grid(True, alpha=0.3)

        # the caption names the metrics and any generated points the fixed axes leave out
        caption = _metrics_text(data.metrics)
        outside = _count_outside(generated, (x_low, x_high), (y_low, y_high))
        # always two lines, so the axes keep their place from one training snapshot to the next
        if outside:
            verb = "lies" if outside == 1 else "lie"
            caption += f"\n{outside} of {len(generated)} generated points {verb} outside the axes"
        else:
            caption += f"\nall {len(generated)} generated points lie inside the axes"
        figure.suptitle(_title(pattern.name, "generated vs real samples", data.epoch, data.label))
        axes.set_title(caption, fontsize="small")
        figure.legend(loc="outside lower center", ncols=2, markerscale=2)


def _limits(pattern: Pattern, real: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Return the pattern's plot limits (or the real samples' extent) widened by MARGIN."""
    import numpy as np

    limits = pattern.plot_limits()
    if limits is None:
        finite = real[np.isfinite(real).all(axis=1)]
        if len(finite) == 0:
            raise GanpatError(f"pattern {pattern.name} has no plot limits and no finite real samples to size the axes")
        limits = ((float(finite[:, 0].min()), float(finite[:, 0].max())),
                  (float(finite[:, 1].min()), float(finite[:, 1].max())))  # fmt: skip
    widened = []
    for low, high in limits:
        pad = MARGIN * (high - low) if high > low else 1.0
        widened.append((low - pad, high + pad))
    return widened[0], widened[1]


def _count_outside(points: np.ndarray, x_limits: tuple[float, float], y_limits: tuple[float, float]) -> int:
    inside = (
        (points[:, 0] >= x_limits[0]) & (points[:, 0] <= x_limits[1])
        & (points[:, 1] >= y_limits[0]) & (points[:, 1] <= y_limits[1])
    )  # fmt: skip
    return int((~inside).sum())


class HistogramPlotter(Plotter):
    """How often the generator produces each integer, valid values in one colour and invalid ones in another."""

    name = "histogram"
    description = "share of generated samples per integer value, valid and invalid values coloured apart"
    default_samples = 10_000

    def unsupported_reason(self, pattern: Pattern) -> str | None:
        if pattern.invalid_value is not None and len(pattern.columns) == 1:
            return None
        return (
            f"plotter histogram draws patterns whose samples decode to one integer, but pattern "
            f"{pattern.name} decodes to {_decoded_width(pattern)} value(s)"
            + _suggest_default(pattern, self.name)
        )

    def draw(self, figure: Any, data: SampleView | LogView) -> None:
        assert isinstance(data, SampleView)
        import numpy as np

        pattern = data.pattern
        values = data.generated[:, 0].astype(np.int64)
        width = int(pattern.sample_shape[0])
        valid_values = _valid_values(pattern, data.real)
        total = max(len(values), 1)

        # share of the generated samples that decode to each integer 0..width-1
        decoded = values[(values >= 0) & (values < width)]
        shares = np.bincount(decoded, minlength=width)[:width] / total
        is_valid = np.zeros(width, dtype=bool)
        is_valid[[v for v in valid_values if 0 <= v < width]] = True
        colours = np.where(is_valid, VALID_COLOUR, INVALID_COLOUR)

        axes = figure.add_subplot()
        axes.bar(np.arange(width), shares, width=0.8, color=colours)
        uniform = 1.0 / max(len(valid_values), 1)
        axes.axhline(uniform, color="black", linestyle="--", linewidth=1)
        axes.set_xlim(-1, width)
        axes.set_ylim(0, 1.15 * max(float(shares.max(initial=0.0)), uniform))
        axes.set_xticks(range(0, width, 10 if width > 20 else 1))
        axes.set_xlabel("generated value")
        axes.set_ylabel("share of generated samples")
        axes.grid(True, axis="y", alpha=0.3)

        # legend entries for the two bar colours and the reference line
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [
            Patch(color=VALID_COLOUR, label=f"valid value ({len(valid_values)})"),
            Patch(color=INVALID_COLOUR, label="invalid value"),
            Line2D([], [], color="black", linestyle="--", label=f"uniform share 1/{len(valid_values)}"),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=3)
        undecodable = int((values == pattern.invalid_value).sum())
        caption = _integer_caption(data.metrics, undecodable, len(values))
        figure.suptitle(_title(pattern.name, f"{len(values)} generated values", data.epoch, data.label))
        axes.set_title(caption, fontsize="small")


def _valid_values(pattern: Pattern, real: np.ndarray) -> list[int]:
    """Return the pattern's ``valid_values`` when it has them, else the values its real samples take."""
    import numpy as np

    declared = getattr(pattern, "valid_values", None)
    if declared is not None:
        return sorted(int(v) for v in declared)
    # NOTE: a value too rare to appear among the real samples drawn is shown as invalid
    found = real[:, 0].astype(np.int64)
    return sorted(int(v) for v in np.unique(found[found != pattern.invalid_value]))


def _integer_caption(metrics: Mapping[str, float], undecodable: int, total: int) -> str:
    """Return the valid share, modes covered and TV distance when the pattern measures them, else all metrics."""
    known = ("valid", "modes_covered", "modes_total", "tv_uniform")
    if all(name in metrics for name in known):
        caption = (
            f"valid {metrics['valid']:.2%}   modes covered {int(metrics['modes_covered'])}/{int(metrics['modes_total'])}"
            f"   total-variation distance to uniform {metrics['tv_uniform']:.3f}"
        )
    else:
        caption = _metrics_text(metrics)
    if undecodable:
        caption += f"\n{undecodable} of {total} samples have no single largest entry and decode to no value"
    return caption


class LossesPlotter(Plotter):
    """Discriminator and generator loss per quality check, with the pattern's quality score on a second axis."""

    name = "losses"
    description = "discriminator and generator loss per epoch, with the quality score on a second axis"
    source = TRAINING_LOG

    def draw(self, figure: Any, data: SampleView | LogView) -> None:
        assert isinstance(data, LogView)
        import numpy as np
        from matplotlib.ticker import MaxNLocator

        records = data.records
        epochs = np.array([record["epoch"] for record in records], dtype=float)
        d_loss = _column(records, "d_loss")
        g_loss = _column(records, "g_loss")
        score = _column(records, "score")
        marker = "." if len(records) < 60 else None

        axes = figure.add_subplot()
        axes.plot(epochs, d_loss, color="tab:blue", marker=marker, label="discriminator loss")
        axes.plot(epochs, g_loss, color="tab:orange", marker=marker, label="generator loss")
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss (mean over the epoch's steps)")
        axes.set_xlim(0, 1.02 * epochs.max() + 1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)

        # the quality score on its own axis, with the best check marked
        score_axes = axes.twinx()
        finite = np.isfinite(score)
        score_axes.plot(epochs[finite], score[finite], color="tab:green", marker=marker, label="quality score")
        score_axes.set_ylabel("quality score (higher is better)")
        if finite.any() and score[finite].min() >= 0 and score[finite].max() <= 1:
            score_axes.set_ylim(-0.02, 1.02)
        if finite.any():
            best = int(np.flatnonzero(finite)[np.argmax(score[finite])])
            axes.axvline(epochs[best], color="gray", linestyle=":",
                         label=f"best score {score[best]:.3f} at epoch {int(epochs[best])}")  # fmt: skip
        met = np.array([bool(record.get("target_met")) for record in records])
        if met.any():
            score_axes.scatter(epochs[met & finite], score[met & finite], color="tab:green", marker="o",
                               s=30, zorder=3, label="target met")  # fmt: skip

        handles = axes.get_legend_handles_labels()
        score_handles = score_axes.get_legend_handles_labels()
        figure.legend(handles[0] + score_handles[0], handles[1] + score_handles[1],
                      loc="outside lower center", ncols=3)  # fmt: skip
        name = data.pattern_name or "training"
        figure.suptitle(f"{name}: losses and quality score per epoch" + (f" ({data.label})" if data.label else ""))
        checks = f"{len(records)} quality check" + ("s" if len(records) != 1 else "")
        axes.set_title(f"{checks}, last at epoch {int(epochs[-1])}", fontsize="small")


def _column(records: list[dict[str, Any]], key: str) -> np.ndarray:
    import numpy as np

    values = [record.get(key) for record in records]
    return np.array([np.nan if value is None else float(value) for value in values], dtype=float)


PLOTTERS: tuple[Plotter, ...] = (ScatterPlotter(), HistogramPlotter(), LossesPlotter())


@hookimpl
def register_plotters(register: Callable[[Plotter], None]) -> None:
    for plotter in PLOTTERS:
        register(plotter)
