"""Exceptions that the command line turns into one-line messages."""

from __future__ import annotations


class GanpatError(Exception):
    """A failure the user can act on; the CLI prints it and exits with status 1."""

    exit_code = 1


class UsageProblem(GanpatError):
    """Invalid input from the user (a name, a device, a file type); exit status 2."""

    exit_code = 2


class PluginError(GanpatError):
    """A plugin registered something invalid or clashing."""


class InvalidSamples(PluginError):
    """A pattern's sampler returned samples of the wrong shape."""


class TrainingDiverged(GanpatError):
    """A loss became NaN or infinite during training."""

    def __init__(self, epoch: int, lr: float) -> None:
        super().__init__(
            f"training diverged at epoch {epoch}: a loss became NaN or infinite; "
            f"try a lower learning rate than --lr {lr:g}"
        )
        self.epoch = epoch
