"""Commands that use a saved generator: generate, evaluate, info, export and plot."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ganpat.cli import FILE_PATH, MAX_GENERATED, MAX_MEASURED, SEED, WholeNumber, cli, discard_stdout, make_console


FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".npy": "npy"}
MODEL_SUFFIXES = (".pt", ".pt2")


@cli.command()
@click.argument("model", type=FILE_PATH)
@click.option("-n", "count", type=WholeNumber(min=0, max=MAX_GENERATED), default=10, show_default=True, help="Number of samples.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl", "npy"]), help="Output format [default: from the --output suffix, else csv].")
@click.option("-o", "--output", default="-", show_default=True, help="Output file, or - for stdout.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the latent noise.")
@click.option("--raw", is_flag=True, help="Write the generator's raw output instead of decoded values.")
@click.option("--pattern", help="Pattern of a generator saved without ganpat metadata.")
@click.option("--device", default="cpu", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def generate(model: Path, count: int, fmt: str | None, output: str, seed: int, raw: bool, pattern: str | None, device: str) -> None:  # fmt: skip
    """Generate samples from a saved generator (TorchScript .pt or torch.export .pt2).

    On the CPU, chunks of samples are computed on as many threads as torch uses
    (OMP_NUM_THREADS sets that), with the same output for any thread count. A
    generator that draws random numbers itself runs on one thread.
    """
    from ganpat.devices import resolve_device
    from ganpat.evaluation import open_model
    from ganpat.generation import keep_freed_memory, write_samples

    suffix_format = FORMAT_BY_SUFFIX.get(Path(output).suffix.lower()) if output != "-" else None
    if fmt is None:
        fmt = suffix_format or "csv"
    elif suffix_format is not None and suffix_format != fmt:
        # a file named x.csv that contains npy bytes would mislead every program that reads it
        renamed = Path(output).with_suffix(f".{fmt}").name
        raise click.BadParameter(
            f"{fmt} does not match the suffix of {output}; drop --format or name the file {renamed}",
            param_hint="--format",
        )
    if not output.strip():
        raise click.UsageError(f"--output {output!r} is empty; give a file name, or - for stdout")
    if output != "-":
        _check_sample_output(model, Path(output))
    torch_device = resolve_device(device)
    loaded, found = open_model(model, pattern, torch_device)
    log_name = loaded.metadata.get("training_log")
    if output != "-" and isinstance(log_name, str) and _same_file(Path(output), model.with_name(log_name)):
        raise click.BadParameter(
            f"{output} is the training log of {model}; choose another file name", param_hint="--output"
        )
    keep_freed_memory()
    try:
        write_samples(loaded, found, count, fmt, output, seed, raw, torch_device)
    except BrokenPipeError:
        # the reader closed the pipe (as `| head` does): stop quietly
        discard_stdout()
        sys.exit(0)
    except OSError as error:
        if output != "-":
            raise
        from ganpat.file_writes import WriteFailed

        raise WriteFailed(Path("standard output"), error.strerror or str(error)) from None
    if output != "-":
        click.echo(f"Wrote {count} samples to {output}", err=True)


def _check_sample_output(model: Path, output: Path) -> None:
    """Reject an --output of generate that is a folder, the model itself, or a model or checkpoint file, also through a link."""
    if output.is_dir():
        raise click.BadParameter(f"{output} is a folder; give a file name", param_hint="--output")
    if _same_file(output, model):
        raise click.BadParameter(
            f"{output} is the model file itself; write the samples to another file", param_hint="--output"
        )
    if output.suffix.lower() in MODEL_SUFFIXES:
        raise click.BadParameter(
            f"{output} ends in {output.suffix}, the suffix of a model file; write the samples to "
            f"{output.with_suffix('.csv').name} or another .csv, .json, .jsonl or .npy file",
            param_hint="--output",
        )
    from ganpat.file_writes import check_not_torch_file

    check_not_torch_file(output, "samples")


def _same_file(first: Path, second: Path) -> bool:
    """Return True when both paths exist and name the same file, through links and relative paths."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


@cli.command()
@click.argument("model", type=FILE_PATH)
@click.option("--pattern", help="Pattern of a generator saved without ganpat metadata.")
@click.option("-n", "count", type=WholeNumber(min=1, max=MAX_MEASURED), default=10_000, show_default=True, help="Number of samples measured (all are held in memory).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the latent noise.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--check", is_flag=True, help="Exit with status 1 when the pattern's target is not met.")
def evaluate(model: Path, pattern: str | None, count: int, seed: int, as_json: bool, check: bool) -> None:
    """Measure a saved generator's quality metrics against its pattern's target."""
    from ganpat.evaluation import evaluate as run_evaluation
    from ganpat.evaluation import open_model

    loaded, found = open_model(model, pattern)
    evaluation = run_evaluation(loaded, found, count, seed)
    try:
        _print_evaluation(model, found.name, count, seed, evaluation, as_json)
    except BrokenPipeError:
        # the reader closed the pipe (as `| head` does), and the exit status still reports --check
        discard_stdout()
    if check and not evaluation.target_met:
        sys.exit(1)


def _print_evaluation(model: Path, pattern_name: str, count: int, seed: int, evaluation: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "model": str(model), "pattern": pattern_name, "n": count, "seed": seed,
            "metrics": evaluation.metrics, "target": evaluation.target, "target_met": evaluation.target_met,
        }, indent=2))  # fmt: skip
    else:
        from rich.table import Table

        from ganpat.metric_text import metric_text

        click.echo(f"{model}: pattern {pattern_name}, {count} samples, noise seed {seed}")
        table = Table()
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name in evaluation.metrics:
            text = metric_text(name, evaluation.metrics, digits=4)
            if text is not None:
                table.add_row(name, text)
        # On a closed pipe the console would exit before --check sets the status. click raises
        # BrokenPipeError instead, which evaluate handles, so click writes the rendered table.
        console = make_console()
        with console.capture() as captured:
            console.print(table)
        click.echo(captured.get(), nl=False)
        verdict = "met" if evaluation.target_met else "NOT met"
        click.echo(f"target ({'; '.join(evaluation.target)}): {verdict}")


@cli.command()
@click.argument("model", type=FILE_PATH)
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
    make_console().print(table)


@cli.command()
@click.argument("model", type=FILE_PATH)
@click.option("-o", "--output", type=FILE_PATH, required=True, help="The .pt2 file to write.")
def export(model: Path, output: Path) -> None:
    """Save a generator as a torch.export program (.pt2) with the same metadata."""
    from ganpat.persistence import export_program, load_generator

    if output.suffix != ".pt2":
        raise click.BadParameter(f"{output} must end in .pt2", param_hint="--output")
    if _same_file(output, model):
        raise click.BadParameter(f"{output} is the model file itself; choose another file name", param_hint="--output")
    loaded = load_generator(model)
    metadata = dict(loaded.metadata)
    metadata["latent_size"] = loaded.latent_size
    metadata["exported_from"] = str(model)
    export_program(loaded.module, loaded.latent_size, output, metadata)  # type: ignore[arg-type]
    click.echo(f"Wrote {output}")


@cli.command()
@click.argument("model", type=FILE_PATH, required=False)
@click.option("--log", "log_path", type=FILE_PATH, help="Draw this training log (.log.jsonl) instead of a model; the plotter defaults to losses.")
@click.option("-o", "--output", type=FILE_PATH, help="Picture to write: .png, .svg or .pdf [default: next to MODEL, such as files/PATTERN.png, or files/PATTERN.pt2.png for a .pt2 MODEL].")
@click.option("--plotter", help="Plotter name (see list-plotters) [default: the pattern's].")
@click.option("-n", "count", type=WholeNumber(min=1, max=MAX_MEASURED), help="Generated and real samples drawn [default: the plotter's, 2000 for scatter, 10000 for histogram].")
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
