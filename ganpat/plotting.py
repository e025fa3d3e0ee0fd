"""Pictures: draw plotters on matplotlib figures, save them atomically, and assemble GIFs.

Figures are rendered with matplotlib's Agg backend through the object-oriented
API (no pyplot), so nothing here needs a display or opens a window, except
:func:`show`. matplotlib, Pillow and torch are imported inside the functions
that use them, so importing this module is cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ganpat.errors import GanpatError, UsageProblem
from ganpat.file_writes import check_not_torch_file
from ganpat.plotter import DPI, SAMPLES, TRAINING_LOG, LogView, Plotter, SampleView

if TYPE_CHECKING:
    import torch

    from ganpat.pattern import Pattern
    from ganpat.registry import Registry

IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# GIF frame durations in milliseconds; the last frame stays longer so the end result is easy to see
GIF_FRAME_MS = 400
GIF_LAST_FRAME_MS = 2000
# fields every line of a training log has; the other fields are the pattern's metrics
LOG_FIELDS = ("epoch", "step", "d_loss", "g_loss", "score", "target_met", "elapsed", "lr_g")
LOG_SUFFIX = ".log.jsonl"
# matplotlib backends that only write files, in lower case
NON_INTERACTIVE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


# choosing a plotter and an output file


def choose_plotter(registry: Registry, pattern: Pattern | None, name: str | None) -> Plotter:
    """Return the plotter called ``name`` (default: the pattern's), checked against ``pattern``.

    Raise UsageProblem for an unknown name (listing the available ones) and for a
    sample plotter that cannot draw ``pattern``.
    """
    if name is None and pattern is not None:
        name = pattern.default_plotter
        if name not in registry.plotters:
            available = ", ".join(sorted(registry.plotters)) or "none"
            raise UsageProblem(
                f"pattern {pattern.name} names the default plotter {name!r}, which no loaded plugin registers; "
                f"pass --plotter with one of: {available}"
            )
    if name is None:
        raise UsageProblem("no plotter chosen; pass --plotter NAME (see 'ganpat list-plotters')")
    plotter = registry.plotter(name)
    if plotter.source not in (SAMPLES, TRAINING_LOG):
        raise GanpatError(
            f"plotter {plotter.name} declares source {plotter.source!r}, but ganpat only supplies "
            f"{SAMPLES!r} or {TRAINING_LOG!r}; ask its plugin's author to fix it"
        )
    if pattern is not None and plotter.source == SAMPLES:
        reason = plotter.unsupported_reason(pattern)
        if reason:
            raise UsageProblem(reason)
    return plotter


def image_format(path: Path) -> str:
    """Return the matplotlib format for ``path``'s suffix. Raise UsageProblem for an unsupported suffix."""
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageProblem(
            f"cannot write a picture to {path}: the suffix {path.suffix or '(none)'!r} is not supported; "
            f"end the file name in {', '.join(IMAGE_FORMATS)}"
        )
    return fmt


def check_output(path: Path) -> None:
    """Raise UsageProblem when ``path`` is a folder or has an unsupported suffix."""
    if path.is_dir():
        raise UsageProblem(f"-o {path} is a folder; give a file name such as {path / 'picture.png'}")
    check_not_torch_file(path, "picture")
    image_format(path)


def default_output(source: Path, plotter: Plotter, pattern: Pattern | None) -> Path:
    """Return the picture path next to a model or log: ``files/P.png`` for the pattern's default plotter.

    A ``.pt2`` model keeps its suffix in the name (``files/P.pt2.png``), so that its
    picture does not replace the one of the ``.pt`` model with the same stem.
    """
    if source.name.endswith(LOG_SUFFIX):
        stem = source.name.removesuffix(LOG_SUFFIX)
    elif source.suffix == ".pt2":
        stem = source.name
    else:
        stem = source.stem
    if pattern is not None and plotter.name == pattern.default_plotter:
        return source.with_name(f"{stem}.png")
    return source.with_name(f"{stem}.{plotter.name}.png")


# drawing and saving


def draw(plotter: Plotter, data: SampleView | LogView) -> Any:
    """Return a new Agg figure of the plotter's size with ``data`` drawn on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=plotter.figure_size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    plotter.draw(figure, data)
    return figure


def save(figure: Any, path: Path) -> None:
    """Write ``figure`` to ``path`` in the format its suffix names, creating the folder, atomically."""
    from ganpat.persistence import atomic_write

    fmt = image_format(path)
    atomic_write(path, lambda temporary: figure.savefig(temporary, format=fmt, dpi=DPI))


def render(plotter: Plotter, data: SampleView | LogView, path: Path) -> None:
    """Draw ``data`` with ``plotter`` and save the picture to ``path``."""
    save(draw(plotter, data), path)


def show(plotter: Plotter, data: SampleView | LogView) -> None:
    """Draw ``data`` in a window and wait until it is closed. Raise GanpatError when there is no display."""
    import matplotlib
    import matplotlib.pyplot as pyplot

    backend = matplotlib.get_backend()
    if backend.lower() in NON_INTERACTIVE_BACKENDS:
        raise GanpatError(
            f"--show needs a display, but matplotlib found no interactive backend (it uses {backend}); "
            "open the saved picture instead, or set MPLBACKEND to an interactive backend such as TkAgg"
        )
    figure = pyplot.figure(figsize=plotter.figure_size, layout="constrained")
    plotter.draw(figure, data)
    pyplot.show()


def write_gif(frames: Sequence[Path], path: Path) -> None:
    """Assemble the PNG ``frames``, in order, into an endlessly looping GIF at ``path``, atomically.

    Every frame is kept in memory as an 8-bit palette image (width x height bytes).
    """
    from PIL import Image

    from ganpat.persistence import atomic_write

    if not frames:
        raise ValueError("write_gif needs at least one frame")
    images = []
    for frame in frames:
        with Image.open(frame) as image:
            images.append(image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE))
    durations = [GIF_FRAME_MS] * (len(images) - 1) + [GIF_LAST_FRAME_MS]

    def write(temporary: Path) -> None:
        images[0].save(temporary, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    atomic_write(path, write)


# the data plotters receive


def sample_view(pattern: Pattern, generated: torch.Tensor, real: torch.Tensor, epoch: int | None, label: str) -> SampleView:
    """Decode generated and real samples and measure the generated ones, for a sample plotter."""
    import numpy as np

    def decoded(samples: torch.Tensor) -> np.ndarray:
        return np.asarray(pattern.decode(samples), dtype=float).reshape(len(samples), -1)

    return SampleView(pattern, decoded(generated), decoded(real), pattern.metrics(generated), epoch, label)


def real_samples(pattern: Pattern, n: int, seed: int) -> torch.Tensor:
    """Draw ``n`` real samples of ``pattern`` from a generator seeded with ``seed``."""
    import torch

    return pattern.sample(n, torch.Generator().manual_seed(seed)).float()


def read_training_log(path: Path, pattern_name: str | None = None) -> LogView:
    """Read a JSON Lines training log. Raise UsageProblem or GanpatError naming the file and the invalid line."""
    if not path.exists():
        raise UsageProblem(f"training log {path} does not exist; train a model first or check the path")
    if path.is_dir():
        raise UsageProblem(f"training log path {path} is a folder; give the {LOG_SUFFIX} file inside it")
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    records.append(_parse_log_line(path, number, line))
    except UnicodeDecodeError:
        raise GanpatError(f"{path} is not a text file, so not a ganpat training log") from None
    if not records:
        raise GanpatError(f"training log {path} records no quality checks; train for more epochs first")
    if pattern_name is None and path.name.endswith(LOG_SUFFIX):
        pattern_name = path.name.removesuffix(LOG_SUFFIX)
    metric_names = [key for key in records[-1] if key not in LOG_FIELDS]
    return LogView(records, pattern_name, path.name, metric_names)


def _parse_log_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise GanpatError(f"{path} line {number} is not valid JSON ({error.msg}); is it a ganpat training log?") from None
    if not isinstance(record, dict):
        raise GanpatError(f"{path} line {number} is not a JSON object; is it a ganpat training log?")
    for key in ("epoch", "d_loss", "g_loss", "score"):
        if key not in record:
            raise GanpatError(f"{path} line {number} has no {key!r} field; is it a ganpat training log?")
    return record


@dataclass
class PlotRequest:
    """The options of one ``ganpat plot`` run; None means the default."""

    model: Path | None = None
    log: Path | None = None
    output: Path | None = None
    plotter: str | None = None
    samples: int | None = None
    seed: int = 0
    pattern: str | None = None


@dataclass
class Picture:
    """A written picture, with what it shows (so that ``--show`` can draw it again)."""

    path: Path
    plotter: Plotter
    data: SampleView | LogView


def make_picture(request: PlotRequest) -> Picture:
    """Draw a saved generator or a training log as ``request`` specifies, and write the picture."""
    from ganpat import plugins

    registry = plugins.registry()
    if request.model is None and request.log is None:
        raise UsageProblem("give a MODEL file to plot, or --log LOG to plot a training log")
    if request.model is not None and request.log is not None:
        raise UsageProblem("give either MODEL or --log, not both; --plotter losses finds a model's own log")
    if request.output is not None:
        check_output(request.output)

    # a training log on its own
    if request.log is not None:
        plotter = choose_plotter(registry, None, request.plotter or "losses")
        if plotter.source != TRAINING_LOG:
            raise UsageProblem(
                f"plotter {plotter.name} draws generated samples, so it needs a MODEL, not --log; "
                f"plotters of training logs: {', '.join(_log_plotters(registry))}"
            )
        data: SampleView | LogView = read_training_log(request.log, request.pattern)
        output = request.output or default_output(request.log, plotter, None)
        check_output(output)
        render(plotter, data, output)
        return Picture(output, plotter, data)

    # a saved generator, or the training log its metadata names
    from ganpat.evaluation import open_model

    assert request.model is not None
    loaded, pattern = open_model(request.model, request.pattern)
    plotter = choose_plotter(registry, pattern, request.plotter)
    if plotter.source == TRAINING_LOG:
        data = read_training_log(_log_path(loaded.path, loaded.metadata), pattern.name)
    else:
        data = _model_view(loaded, pattern, request.samples or plotter.default_samples, request.seed)
    output = request.output or default_output(request.model, plotter, pattern)
    check_output(output)
    render(plotter, data, output)
    return Picture(output, plotter, data)


def _log_plotters(registry: Registry) -> list[str]:
    return sorted(name for name, entry in registry.plotters.items() if entry.item.source == TRAINING_LOG)


def _log_path(model: Path, metadata: dict[str, Any]) -> Path:
    name = metadata.get("training_log")
    if not name:
        raise UsageProblem(f"{model} records no training log (it has no ganpat metadata); pass --log LOG instead")
    return model.with_name(str(name))


def _model_view(loaded: Any, pattern: Pattern, n: int, seed: int) -> SampleView:
    import torch

    from ganpat.generation import sample_chunks

    generated = torch.cat(list(sample_chunks(loaded, n, seed)))
    epoch = loaded.metadata.get("best_epoch")
    return sample_view(pattern, generated, real_samples(pattern, n, seed), epoch, loaded.path.name)
