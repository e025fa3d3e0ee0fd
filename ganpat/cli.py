"""The `ganpat` command group, its shared option types and error handling.

The commands live in :mod:`ganpat.commands`; they parse options and call into the
package.

Heavy modules (torch, matplotlib) are imported inside the commands that need
them, so that ``--help`` and the listing commands start quickly.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from ganpat import __version__
from ganpat.errors import GanpatError
from ganpat.recipe import MAX_SEED


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


class WholeNumber(click.IntRange):
    """An integer in a range, whose error for a number written as ``1e3`` or ``2.0`` gives the integer to write."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, str):
            try:
                int(value.strip())
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    self.fail(f"{value!r} is not a whole number", param, ctx)
                if math.isfinite(number) and number.is_integer():
                    self.fail(f"{value!r} is not written as a whole number; write {int(number)}", param, ctx)
                self.fail(f"{value!r} is not a whole number", param, ctx)
        return super().convert(value, param, ctx)


class FilePath(click.Path):
    """A file name as a ``pathlib.Path``, rejecting an empty or blank name, which click would turn into ``.``."""

    def __init__(self) -> None:
        super().__init__(path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(f"{value!r} is empty; give a file name", param, ctx)
        return super().convert(value, param, ctx)


FILE_PATH = FilePath()
SEED = WholeNumber(min=0, max=MAX_SEED)
# evaluate and plot hold every sample in memory (a one-hot sample is 400 bytes), unlike generate
MAX_MEASURED = 1_000_000
# generate streams, so memory is no limit; this ceiling (about 200 GB of two-column csv) catches a mistyped -n
MAX_GENERATED = 10**10


class OneLineUsageError(click.ClickException):
    """A click usage error shown as one line, in place of click's usage block."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def one_line(error: click.UsageError) -> click.UsageError:
    """Return ``error``'s message on one line, with the help command that explains the right usage.

    'ganpat' with no command still shows its help, as click does.
    """
    if isinstance(error, click.exceptions.NoArgsIsHelpError):
        return error
    message = " ".join(error.format_message().split())
    if error.ctx is not None:
        end = "" if message.endswith((".", "?", "!")) else "."
        message += f"{end} See '{error.ctx.command_path} --help'."
    return OneLineUsageError(message)


class GanpatGroup(click.Group):
    """Turns GanpatError and click's usage errors into a one-line message and its exit status."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise one_line(error) from None
        except GanpatError as error:
            click.echo(f"Error: {error}", err=True)
            logging.getLogger("ganpat").debug("traceback", exc_info=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (MemoryError, RuntimeError) as error:
            if not _out_of_memory(error):
                raise
            request = re.search(r"tried to allocate [^.(]+", str(error))
            detail = f": {request.group(0).strip()}" if request else ""
            click.echo(f"Error: out of memory{detail}; use a smaller --batch-size or -n", err=True)
            logging.getLogger("ganpat").debug("traceback", exc_info=True)
            ctx.exit(1)


def _out_of_memory(error: BaseException) -> bool:
    """Return whether ``error`` reports a failed allocation: MemoryError, or the error of torch's CPU or CUDA allocator."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    # torch's CPU allocator raises a plain RuntimeError (torch 2.13)
    return "can't allocate memory" in str(error)


def make_console(stderr: bool = False) -> Any:
    """Return a rich Console that stops with status 0, as `generate` does, when the reader closes the pipe."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich's own handler exits with status 1, which a script would read as a failure
            self.quiet = True
            discard_stdout()
            raise SystemExit(0)

    return PipeConsole(stderr=stderr)


def discard_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush does not fail on a pipe the reader closed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def plugin_label(plugin: str) -> str:
    """Return ``ganpat`` for the built-in plugins, whose module names are long, and the name otherwise."""
    return "ganpat" if plugin.startswith("ganpat.builtin.") else plugin


def load_registry() -> Any:
    from ganpat import plugins

    return plugins.registry()


@click.group(cls=GanpatGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganpat")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics, and tracebacks of failing plugins, to stderr.")
def cli(verbose: bool) -> None:
    """Train small GANs on synthetic patterns, then generate, evaluate and plot samples."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(name)s: %(message)s")


# importing the command modules registers their commands on `cli`
from ganpat.commands import listing, models, train  # noqa: E402, F401
from ganpat.commands import plugins as plugin_commands  # noqa: E402, F401


def main() -> None:
    from ganpat import signals

    signals.stop_on_signals()
    try:
        cli(prog_name="ganpat")
    except SystemExit as end:
        raise SystemExit(signals.exit_status(end.code)) from None


if __name__ == "__main__":
    main()
