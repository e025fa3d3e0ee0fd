"""The `ganpat` command line. Commands parse options and call into the package.

Heavy modules (torch, matplotlib) are imported inside the commands that need
them, so that ``--help`` and the listing commands start quickly.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from ganpat import __version__
from ganpat.errors import GanpatError


class PositiveFloat(click.ParamType):
    """A finite float greater than zero."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} must be a finite number greater than 0", param, ctx)
        return number


# torch seeds are unsigned 64-bit integers
SEED = click.IntRange(min=0, max=2**64 - 1)
# evaluate and plot hold every sample in memory (a one-hot sample is 400 bytes), unlike generate
MAX_MEASURED = 1_000_000


class GanpatGroup(click.Group):
    """Turns GanpatError into a one-line message and its exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GanpatError as error:
            click.echo(f"Error: {error}", err=True)
            logging.getLogger("ganpat").debug("traceback", exc_info=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr)


def _plugin_label(plugin: str) -> str:
    """Return ``ganpat`` for the built-in plugins, whose module names are long, and the name otherwise."""
    return "ganpat" if plugin.startswith("ganpat.builtin.") else plugin


def _registry() -> Any:
    from ganpat import plugins

    return plugins.registry()


@click.group(cls=GanpatGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganpat")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics, and tracebacks of failing plugins, to stderr.")
def cli(verbose: bool) -> None:
    """Train small GANs on synthetic patterns, then generate, evaluate and plot samples."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(name)s: %(message)s")


# listing


@cli.command("list-patterns")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_patterns(as_json: bool) -> None:
    """List the patterns that can be trained."""
    registry = _registry()
    rows = []
    for name, entry in registry.patterns.items():
        pattern = entry.item
        rows.append({
            "name": name,
            "description": pattern.description,
            "sample_shape": list(pattern.sample_shape),
            "default_architecture": pattern.default_recipe.architecture,
            "recipes": sorted(pattern.recipes),
            "plugin": entry.plugin,
        })  # fmt: skip
    for entry in registry.families.values():
        family = entry.item
        rows.append({
            "name": family.display_name,
            "description": family.description,
            "sample_shape": list(family.sample_shape),
            "default_architecture": family.default_architecture,
            "plugin": entry.plugin,
            "parameter": family.parameter.upper(),
            "values": [family.values.start, family.values.stop - 1],
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="ganpat patterns")
    table.add_column("name", no_wrap=True)
    for column in ("description", "sample shape", "default architecture", "plugin"):
        table.add_column(column)
    for row in rows:
        name = row["name"]
        if "parameter" in row:
            name += f"\n({row['parameter']} = {row['values'][0]}..{row['values'][1]})"
        shape = "(" + ", ".join(str(d) for d in row["sample_shape"]) + ",)"
        table.add_row(name, row["description"], shape, row["default_architecture"], _plugin_label(row["plugin"]))
    _console().print(table)


@cli.command("list-architectures")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_architectures(as_json: bool) -> None:
    """List the generator/discriminator architectures."""
    registry = _registry()
    rows = [
        {"name": name, "description": entry.item.description, "plugin": entry.plugin}
        for name, entry in registry.architectures.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="ganpat architectures")
    for column in ("name", "description", "plugin"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["description"], _plugin_label(row["plugin"]))
    _console().print(table)


@cli.command("list-plotters")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_plotters(as_json: bool) -> None:
    """List the plotters that `ganpat plot` can use."""
    registry = _registry()
    rows = [
        {"name": name, "description": entry.item.description, "source": entry.item.source, "plugin": entry.plugin}
        for name, entry in registry.plotters.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="ganpat plotters")
    for column in ("name", "description", "draws", "plugin"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["description"], row["source"], _plugin_label(row["plugin"]))
    _console().print(table)


# training


@cli.command()
@click.argument("pattern")
@click.option("--epochs", type=click.IntRange(min=1), help="Ceiling on epochs for the whole run, resumed epochs included [default: the recipe's].")
@click.option("--batch-size", type=click.IntRange(min=1), help="Real samples per optimizer step [default: the recipe's].")
@click.option("--lr", type=PositiveFloat(), help="Adam learning rate of both networks [default: the recipe's].")
@click.option("--patience", type=click.IntRange(min=1), help="Epochs without a better quality score before stopping [default: the recipe's].")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed; the same seed on the CPU gives identical weights.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--arch", help="Architecture name (see list-architectures) [default: the recipe's].")
@click.option("--recipe", default="default", show_default=True, help="Named recipe of the pattern, such as default or book.")
@click.option("--out", type=click.Path(path_type=Path), help="Generator file to write [default: files/PATTERN.pt].")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint next to --out.")
@click.option("--quiet", is_flag=True, help="Hide the progress bar.")
@click.option("--snapshots", "snapshot_every", type=click.IntRange(min=1), help="Every K epochs, draw the generator to files/PATTERN/epoch-NNNN.png (replacing an earlier run's), and at the end write files/PATTERN/training.gif.")
@click.option("--seeds", help="Train several seeds at once as one batched model: a count K (seeds 0..K-1), a range A-B or a list 1,5,9. Saves the best seed to --out. Seed s matches --seed s in distribution, not bit for bit.")
@click.option("--save-all", is_flag=True, help="With --seeds, also save every seed to PATTERN/seed-NN.pt next to --out.")
def train(pattern: str, epochs: int | None, batch_size: int | None, lr: float | None, patience: int | None,
          seed: int, device: str, arch: str | None, recipe: str, out: Path | None, resume: bool, quiet: bool,
          snapshot_every: int | None, seeds: str | None, save_all: bool) -> None:  # fmt: skip
    """Train a GAN on PATTERN and save its generator as TorchScript.

    Training stops when the pattern's quality target, with a small margin, has held
    at consecutive quality checks (the recipe sets how many),
    when the score has not improved for --patience epochs, or at --epochs. The
    generator saved is the best one seen. Ctrl-C saves the best so far, marked as
    interrupted, and exits with status 130.
    """
    from ganpat.progress import TrainingProgress
    from ganpat.training import TrainRequest
    from ganpat.training import train as run_training

    request = TrainRequest(pattern, out, recipe, arch, epochs, batch_size, lr, patience, seed, device, resume)
    if seeds is not None or save_all:
        if snapshot_every is not None:
            raise click.UsageError("--snapshots works with one --seed, not with --seeds; train that seed alone")
        _train_seeds(request, seeds, save_all)
        return
    console = _console(stderr=True)
    callbacks: list[Any] = []
    progress = None
    if not quiet:
        progress = TrainingProgress(console, pattern)
        callbacks.append(progress)
    if snapshot_every is not None:
        from ganpat.snapshots import snapshot_writer

        callbacks.append(snapshot_writer(request, snapshot_every))
    _warn_batch_clamp(request)
    try:
        outcome = run_training(request, callbacks)
    finally:
        if progress is not None:
            progress.stop()
    result = outcome.result
    if result.interrupted:
        click.echo(f"Interrupted at epoch {result.epochs_run}; saved the best generator so far to {outcome.path}", err=True)
    click.echo(f"Saved {outcome.path}")
    click.echo(
        f"epochs run {result.epochs_run}, best at epoch {result.best_epoch}, {STOP_REASONS[result.stop_reason]}, "
        f"{result.elapsed:.1f} s"
    )
    click.echo(_metrics_line(result.best_metrics) + ("  (target met)" if result.target_met else "  (target not met)"))
    if result.interrupted:
        sys.exit(130)


def _train_seeds(request: Any, seeds_text: str | None, save_all: bool) -> None:
    from ganpat.multiseed import parse_seeds, train_seeds

    if seeds_text is None:
        raise click.UsageError("--save-all needs --seeds")
    if request.seed != 0:
        raise click.UsageError("--seed and --seeds cannot be combined; list the seeds in --seeds")
    _warn_batch_clamp(request)
    outcome = train_seeds(request, parse_seeds(seeds_text), save_all)
    from rich.table import Table

    table = Table(title=f"{request.pattern}: {len(outcome.seeds)} seeds in {outcome.elapsed:.1f} s")
    for column in ("seed", "epochs", "stopped by", "score", "metrics", "target"):
        table.add_column(column)
    for item in outcome.seeds:
        result = item.result
        if result is None:
            table.add_row(str(item.seed), "-", "diverged", "-", "-", "-")
            continue
        table.add_row(str(item.seed), str(result.epochs_run), result.stop_reason, f"{result.best_score:.4f}",
                      _metrics_line(result.best_metrics), "met" if result.target_met else "not met")  # fmt: skip
    _console().print(table)
    met = sum(1 for item in outcome.seeds if item.result is not None and item.result.target_met)
    click.echo(f"target met by {met} of {len(outcome.seeds)} seeds ({met / len(outcome.seeds):.0%})")
    click.echo(f"Saved seed {outcome.best.seed}, the best, to {outcome.path}")
    if save_all:
        click.echo(f"Saved every seed that finished to {outcome.path.with_suffix('')}/seed-NN{outcome.path.suffix or '.pt'}")
    if any(item.result is not None and item.result.interrupted for item in outcome.seeds):
        sys.exit(130)


STOP_REASONS = {
    "target": "stopped at the target",
    "patience": "stopped when patience ran out",
    "epochs": "stopped at the epoch ceiling",
    "interrupted": "interrupted",
}


def _warn_batch_clamp(request: Any) -> None:
    if request.batch_size is None:
        return
    from ganpat import plugins

    pattern = plugins.registry().pattern(request.pattern)
    size = pattern.training_set_size
    if size is not None and request.batch_size > size:
        click.echo(
            f"Warning: --batch-size {request.batch_size} is larger than the training set of {size} samples; "
            f"using {size}",
            err=True,
        )


def _metrics_line(metrics: dict[str, float]) -> str:
    from ganpat.progress import format_metrics

    return format_metrics(metrics, digits=4)


# using a saved generator

FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".npy": "npy"}


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-n", "count", type=click.IntRange(min=0), default=10, show_default=True, help="Number of samples.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl", "npy"]), help="Output format [default: from the --output suffix, else csv].")
@click.option("-o", "--output", default="-", show_default=True, help="Output file, or - for stdout.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the latent noise.")
@click.option("--raw", is_flag=True, help="Write the generator's raw output instead of decoded values.")
@click.option("--pattern", help="Pattern of a generator saved without ganpat metadata.")
@click.option("--device", default="cpu", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def generate(model: Path, count: int, fmt: str | None, output: str, seed: int, raw: bool, pattern: str | None, device: str) -> None:  # fmt: skip
    """Generate samples from a saved generator (TorchScript .pt or torch.export .pt2)."""
    from ganpat.devices import resolve_device
    from ganpat.evaluation import open_model
    from ganpat.generation import write_samples

    if fmt is None:
        fmt = FORMAT_BY_SUFFIX.get(Path(output).suffix.lower(), "csv") if output != "-" else "csv"
    if output != "-" and Path(output).is_dir():
        raise click.BadParameter(f"{output} is a folder; give a file name", param_hint="--output")
    torch_device = resolve_device(device)
    loaded, found = open_model(model, pattern, torch_device)
    try:
        write_samples(loaded, found, count, fmt, output, seed, raw, torch_device)
    except BrokenPipeError:
        # the reader closed the pipe (as `| head` does): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    if output != "-":
        click.echo(f"Wrote {count} samples to {output}", err=True)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--pattern", help="Pattern of a generator saved without ganpat metadata.")
@click.option("-n", "count", type=click.IntRange(min=1, max=MAX_MEASURED), default=10_000, show_default=True, help="Number of samples measured (all are held in memory).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the latent noise.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--check", is_flag=True, help="Exit with status 1 when the pattern's target is not met.")
def evaluate(model: Path, pattern: str | None, count: int, seed: int, as_json: bool, check: bool) -> None:
    """Measure a saved generator's quality metrics against its pattern's target."""
    from ganpat.evaluation import evaluate as run_evaluation
    from ganpat.evaluation import open_model

    loaded, found = open_model(model, pattern)
    evaluation = run_evaluation(loaded, found, count, seed)
    if as_json:
        click.echo(json.dumps({
            "model": str(model), "pattern": found.name, "n": count, "seed": seed,
            "metrics": evaluation.metrics, "target": evaluation.target, "target_met": evaluation.target_met,
        }, indent=2))  # fmt: skip
    else:
        from rich.table import Table

        click.echo(f"{model}: pattern {found.name}, {count} samples, noise seed {seed}")
        table = Table()
        table.add_column("metric")
        table.add_column("value", justify="right")
        metrics = evaluation.metrics
        for name, value in metrics.items():
            if name == "modes_total":
                continue
            if name == "modes_covered" and "modes_total" in metrics:
                table.add_row(name, f"{int(value)}/{int(metrics['modes_total'])}")
            else:
                table.add_row(name, f"{value:.4f}")
        _console().print(table)
        verdict = "met" if evaluation.target_met else "NOT met"
        click.echo(f"target ({'; '.join(evaluation.target)}): {verdict}")
    if check and not evaluation.target_met:
        sys.exit(1)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def info(model: Path, as_json: bool) -> None:
    """Show the metadata stored in a saved generator."""
    from ganpat.persistence import load_generator

    loaded = load_generator(model)
    metadata = dict(loaded.metadata) or {"note": "no ganpat metadata (a plain TorchScript file)"}
    metadata.setdefault("latent_size", loaded.latent_size)
    if as_json:
        click.echo(json.dumps(metadata, indent=2, sort_keys=True))
        return
    from rich.table import Table

    table = Table(title=str(model), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in sorted(metadata):
        value = metadata[key]
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    _console().print(table)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .pt2 file to write.")
def export(model: Path, output: Path) -> None:
    """Save a generator as a torch.export program (.pt2) with the same metadata."""
    from ganpat.persistence import export_program, load_generator

    if output.suffix != ".pt2":
        raise click.BadParameter(f"{output} must end in .pt2", param_hint="--output")
    loaded = load_generator(model)
    metadata = dict(loaded.metadata)
    metadata["latent_size"] = loaded.latent_size
    metadata["exported_from"] = str(model)
    export_program(loaded.module, loaded.latent_size, output, metadata)  # type: ignore[arg-type]
    click.echo(f"Wrote {output}")


@cli.command()
@click.argument("model", type=click.Path(path_type=Path), required=False)
@click.option("--log", "log_path", type=click.Path(path_type=Path), help="Draw this training log (.log.jsonl) instead of a model; the plotter defaults to losses.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Picture to write: .png, .svg or .pdf [default: next to MODEL, such as files/PATTERN.png].")
@click.option("--plotter", help="Plotter name (see list-plotters) [default: the pattern's].")
@click.option("-n", "count", type=click.IntRange(min=1, max=MAX_MEASURED), help="Generated and real samples drawn [default: the plotter's, 2000 for scatter, 10000 for histogram].")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the latent noise and of the real samples.")
@click.option("--pattern", help="Pattern of a generator saved without ganpat metadata.")
@click.option("--show", is_flag=True, help="Also open the picture in a window (needs a display).")
def plot(model: Path | None, log_path: Path | None, output: Path | None, plotter: str | None, count: int | None,
         seed: int, pattern: str | None, show: bool) -> None:  # fmt: skip
    """Draw a saved generator's samples against real ones, or a training log, and print the picture's path."""
    from ganpat.plotting import PlotRequest, make_picture
    from ganpat.plotting import show as show_picture

    picture = make_picture(PlotRequest(model, log_path, output, plotter, count, seed, pattern))
    click.echo(str(picture.path))
    if show:
        show_picture(picture.plotter, picture.data)


# plugins


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Include ganpat's built-in plugins.")
def plugins_command(as_json: bool, show_all: bool) -> None:
    """List the loaded plugins, their hooks and the names they registered."""
    from ganpat import plugins

    loaded = plugins.load()
    owned = loaded.registry.names_by_plugin()
    rows = []
    for info in loaded.plugins:
        if info.builtin and not show_all:
            continue
        label = info.name if info.builtin else (info.distribution or info.name)
        rows.append({
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "hooks": sorted(set(info.hooks)),
            "registered": owned.get(label, []),
            "builtin": info.builtin,
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No third-party plugins are loaded (use --all to include the built-in ones).")
        return
    from rich.table import Table

    table = Table(title="ganpat plugins")
    for column in ("plugin", "distribution", "version", "hooks", "registered"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["distribution"] or "-", row["version"] or "-",
                      ", ".join(row["hooks"]), ", ".join(row["registered"]))  # fmt: skip
    _console().print(table)


@cli.command("check-pattern")
@click.argument("name")
def check_pattern_command(name: str) -> None:
    """Check pattern NAME against the pattern contract that plugins must meet.

    Exits with status 1 when a check fails.
    """
    from ganpat.testing import check_pattern

    results = check_pattern(_registry().pattern(name))
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'}  {result.name}: {result.detail}")
    failed = sum(not result.passed for result in results)
    if failed:
        click.echo(f"{name}: {failed} of {len(results)} checks failed", err=True)
        sys.exit(1)
    click.echo(f"{name}: all {len(results)} checks passed")


def main() -> None:
    cli(prog_name="ganpat")


if __name__ == "__main__":
    main()
