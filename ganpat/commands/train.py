"""The `train` command: one seed with a progress bar, or several seeds batched."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ganpat.cli import FILE_PATH, SEED, PositiveFloat, WholeNumber, cli, make_console


@cli.command()
@click.argument("pattern")
@click.option("--epochs", type=WholeNumber(min=1), help="Ceiling on epochs for the whole run, resumed epochs included [default: the recipe's].")
@click.option("--batch-size", type=WholeNumber(min=1), help="Real samples per optimizer step [default: the recipe's].")
@click.option("--lr", type=PositiveFloat(), help="Adam learning rate of both networks [default: the recipe's].")
@click.option("--patience", type=WholeNumber(min=1), help="Epochs without a better quality score before stopping [default: the recipe's].")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed; the same seed on the CPU gives identical weights.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--arch", help="Architecture name (see list-architectures) [default: the recipe's].")
@click.option("--recipe", default="default", show_default=True, help="Named recipe of the pattern, such as default or book.")
@click.option("--out", type=FILE_PATH, help="Generator file to write, ending in .pt [default: files/PATTERN.pt].")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint next to --out.")
@click.option("--quiet", is_flag=True, help="Hide the progress bar (it is shown only when stderr is a terminal).")
@click.option("--snapshots", "snapshot_every", type=WholeNumber(min=1), help="Every K epochs, draw the generator to files/PATTERN/epoch-NNNN.png (replacing an earlier run's), and at the end write files/PATTERN/training.gif.")
@click.option("--seeds", help="Train several seeds at once as one batched model: a count K (seeds 0..K-1), a range A-B or a list 1,5,9. Saves the best seed to --out. Seed s matches --seed s in distribution, not bit for bit.")
@click.option("--save-all", is_flag=True, help="With --seeds, also save every seed to PATTERN/seed-NN.pt next to --out.")
@click.option("--threads", type=WholeNumber(min=1, max=1024), help="CPU threads for torch's operators [default: OMP_NUM_THREADS when set, else 1]. The networks are small: a second thread gained little, and lost much when other programs used the cores.")
def train(pattern: str, epochs: int | None, batch_size: int | None, lr: float | None, patience: int | None,
          seed: int, device: str, arch: str | None, recipe: str, out: Path | None, resume: bool, quiet: bool,
          snapshot_every: int | None, seeds: str | None, save_all: bool, threads: int | None) -> None:  # fmt: skip
    """Train a GAN on PATTERN and save its generator as TorchScript.

    Training stops when the pattern's quality target, with a small margin, has held
    at consecutive quality checks (the recipe sets how many),
    when the score has not improved for --patience epochs, or at --epochs. The
    generator saved is the best one seen. Ctrl-C saves the best so far, marked as
    interrupted, and exits with status 130; SIGTERM and SIGHUP do the same and exit
    with 143 and 129.
    """
    from ganpat.progress import TrainingProgress
    from ganpat.training import TrainRequest
    from ganpat.training import train as run_training

    if out is not None:
        _check_out_suffix(out)
    _set_threads(threads)
    request = TrainRequest(pattern, out, recipe, arch, epochs, batch_size, lr, patience, seed, device, resume)
    if seeds is not None or save_all:
        if snapshot_every is not None:
            raise click.UsageError("--snapshots works with one --seed, not with --seeds; train that seed alone")
        _train_seeds(request, seeds, save_all)
        return
    console = make_console(stderr=True)
    callbacks: list[Any] = []
    progress = None
    # a progress bar only makes sense on a terminal; logs and pipes get the summary alone
    if not quiet and console.is_terminal:
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
        saved = f"Interrupted at epoch {result.epochs_run}; saved the best generator so far to {outcome.path}."
        if outcome.checkpoint_epoch is None:
            click.echo(f"{saved} No checkpoint was written before the first quality check, so --resume cannot continue it.", err=True)
        else:
            click.echo(
                f"{saved} Continue from the checkpoint at epoch {outcome.checkpoint_epoch} with: "
                f"ganpat train {request.pattern} --out {outcome.path} --resume{_identity_options(request)}",
                err=True,
            )
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
    make_console().print(table)
    met = sum(1 for item in outcome.seeds if item.result is not None and item.result.target_met)
    click.echo(f"target met by {met} of {len(outcome.seeds)} seeds ({met / len(outcome.seeds):.0%})")
    interrupted = any(item.result is not None and item.result.interrupted for item in outcome.seeds)
    if interrupted:
        click.echo("Interrupted; the table shows each seed's best check before the interruption.", err=True)
    click.echo(f"Saved seed {outcome.best.seed}, the best, to {outcome.path}")
    if save_all:
        click.echo(f"Saved every seed that did not diverge to {outcome.path.with_suffix('')}/seed-NN{outcome.path.suffix or '.pt'}")
    if interrupted:
        sys.exit(130)


def _identity_options(request: Any) -> str:
    """Return the training options of ``request`` that differ from the defaults, to repeat with --resume."""
    options = ""
    if request.recipe != "default":
        options += f" --recipe {request.recipe}"
    named = (("--arch", request.arch), ("--epochs", request.epochs), ("--batch-size", request.batch_size),
             ("--lr", request.lr), ("--patience", request.patience))  # fmt: skip
    for flag, value in named:
        if value is not None:
            options += f" {flag} {value}"
    if request.seed != 0:
        options += f" --seed {request.seed}"
    return options


STOP_REASONS = {
    "target": "stopped at the target",
    "patience": "stopped when patience ran out",
    "epochs": "stopped at the epoch ceiling",
    "interrupted": "interrupted",
}


def _set_threads(threads: int | None) -> None:
    """Give torch ``threads`` intra-op threads, or one unless OMP_NUM_THREADS sets the count.

    On a 2-core VM (torch 2.13.0+cpu), two threads trained onehot-multiples-of-5 in 3.9 s
    against 4.2 s for one. While another process kept one core busy, two threads took
    51.9 s, because torch's threads spin while they wait for each other.
    """
    if threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return
        threads = 1
    import torch

    torch.set_num_threads(threads)


def _check_out_suffix(out: Path) -> None:
    """Reject an --out that does not end in .pt before training, because train saves TorchScript."""
    if out.suffix == ".pt":
        return
    model = out.with_suffix(".pt")
    if out.suffix == ".pt2":
        raise click.BadParameter(
            f"{out}: train saves TorchScript, which ganpat names .pt; train to {model}, "
            f"then run 'ganpat export {model} -o {out}'",
            param_hint="--out",
        )
    raise click.BadParameter(f"{out} must end in .pt (train saves TorchScript), such as {model}", param_hint="--out")


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
    from ganpat.metric_text import format_metrics

    return format_metrics(metrics, digits=4)
