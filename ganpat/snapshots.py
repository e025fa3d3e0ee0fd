"""Training snapshots: a picture of the generator every K epochs, and a GIF of the whole run at the end."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ganpat import plotting
from ganpat.errors import GanpatError, UsageProblem
from ganpat.pattern import Pattern
from ganpat.plotter import SAMPLES, Plotter

if TYPE_CHECKING:
    from ganpat.engine import Trainer, TrainResult
    from ganpat.training import TrainRequest

log = logging.getLogger(__name__)

# seed of the snapshots' latent vectors and real samples, which every frame shares
SNAPSHOT_SEED = 7
FRAME_RE = re.compile(r"^epoch-(\d+)\.png$")
GIF_NAME = "training.gif"


def snapshot_folder(model_path: Path) -> Path:
    """Return the folder of a model's snapshots: ``files/P/`` for ``files/P.pt``."""
    return model_path.with_name(model_path.stem)


def frame_path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch-{epoch:04d}.png"


class SnapshotWriter:
    """Training callback that draws the generator every ``every`` epochs and at the last epoch.

    Each snapshot is ``folder/epoch-NNNN.png``. At the end of training the frames
    are joined into ``folder/training.gif``, one frame per snapshot, in epoch
    order. A fresh run deletes the frames an earlier run left in ``folder``. A
    resumed run keeps the frames up to the epoch it resumes from, so that its GIF
    covers the whole run. A snapshot that cannot be written stops the snapshots
    with a warning, but not the training.
    """

    def __init__(self, pattern: Pattern, plotter: Plotter, folder: Path, every: int) -> None:
        self.pattern = pattern
        self.plotter = plotter
        self.folder = folder
        self.every = every
        self.frames: list[Path] = []
        self.last_epoch: int | None = None
        self.failed = False

    def on_start(self, trainer: Trainer) -> None:
        # the same latent vectors and real samples in every frame, so frames differ only by training
        n = self.plotter.default_samples
        noise_generator = torch.Generator().manual_seed(SNAPSHOT_SEED)
        self.noise = torch.randn(n, trainer.latent_size, generator=noise_generator).to(trainer.device)
        self.real = plotting.real_samples(self.pattern, n, SNAPSHOT_SEED)
        self.frames = self._earlier_frames(trainer.epoch)

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.epoch % self.every == 0:
            self.take(trainer)

    def on_end(self, trainer: Trainer, result: TrainResult) -> None:
        if self.last_epoch != trainer.epoch:
            self.take(trainer)
        if self.frames and not self.failed:
            try:
                plotting.write_gif(self.frames, self.folder / GIF_NAME)
            except OSError as error:
                log.warning("could not write %s: %s", self.folder / GIF_NAME, error)

    def take(self, trainer: Trainer) -> None:
        """Draw the generator that training checks measure (the EMA copy when there is one) and save it."""
        if self.failed:
            return
        generator = trainer.evaluated_generator
        was_training = generator.training
        generator.eval()
        with torch.no_grad():
            generated = generator(self.noise).float().cpu()
        generator.train(was_training)

        path = frame_path(self.folder, trainer.epoch)
        view = plotting.sample_view(self.pattern, generated, self.real, trainer.epoch, "")
        try:
            plotting.render(self.plotter, view, path)
        except (OSError, GanpatError) as error:
            log.warning("stopped writing snapshots: could not write %s: %s", path, error)
            self.failed = True
            return
        self.frames.append(path)
        self.last_epoch = trainer.epoch

    def _earlier_frames(self, start_epoch: int) -> list[Path]:
        """Delete a fresh run's stale frames, or return a resumed run's frames up to ``start_epoch``."""
        if not self.folder.is_dir():
            return []
        kept: list[tuple[int, Path]] = []
        for path in self.folder.iterdir():
            found = FRAME_RE.match(path.name)
            if found is None:
                continue
            epoch = int(found.group(1))
            if 0 < start_epoch and epoch <= start_epoch:
                kept.append((epoch, path))
            else:
                path.unlink()
        return [path for _, path in sorted(kept)]


def snapshot_writer(request: TrainRequest, every: int) -> SnapshotWriter:
    """Return the snapshot callback for a ``ganpat train`` request, drawing with the pattern's default plotter.

    Raise UsageProblem before training starts when that plotter cannot draw the pattern.
    """
    from ganpat import plugins
    from ganpat.training import default_model_path

    registry = plugins.registry()
    pattern = registry.pattern(request.pattern)
    plotter = plotting.choose_plotter(registry, pattern, None)
    if plotter.source != SAMPLES:
        raise UsageProblem(
            f"pattern {pattern.name}'s default plotter {plotter.name} draws a training log, not samples, "
            "so --snapshots cannot use it"
        )
    out = request.out or default_model_path(pattern.name)
    return SnapshotWriter(pattern, plotter, snapshot_folder(out), every)
