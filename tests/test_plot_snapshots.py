"""`ganpat train --snapshots K`: a picture every K epochs and a GIF of the run, from real training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import assert_clean_error, invoke, leftover_temporaries, scripted_state, train_in_process
from PIL import Image

from ganpat.builtin.plotters import PLOTTERS
from ganpat.plotter import DPI

SIZES = {plotter.name: (round(plotter.figure_size[0] * DPI), round(plotter.figure_size[1] * DPI)) for plotter in PLOTTERS}


def frame_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("epoch-*.png"))


def gif_frames(path: Path) -> tuple[int, tuple[int, int]]:
    """Return the number of frames and the size of a GIF."""
    with Image.open(path) as image:
        return image.n_frames, image.size


def test_snapshots_default_layout(ganpat_process, tmp_path: Path) -> None:
    done = ganpat_process("train", "exponential", "--epochs", "7", "--snapshots", "3", "--quiet", "--device", "cpu")
    assert done.returncode == 0, done.stderr

    folder = tmp_path / "files" / "exponential"
    # every 3 epochs, plus the last epoch
    assert frame_names(folder) == ["epoch-0003.png", "epoch-0006.png", "epoch-0007.png"]
    assert gif_frames(folder / "training.gif") == (3, SIZES["scatter"])
    for frame in folder.glob("epoch-*.png"):
        with Image.open(frame) as image:
            assert image.size == SIZES["scatter"]
            assert np.asarray(image.convert("L")).std() > 20
    assert leftover_temporaries(folder) == []


def test_snapshots_leave_training_unchanged(tmp_path: Path) -> None:
    with_snapshots = tmp_path / "with" / "exponential.pt"
    without = tmp_path / "without" / "exponential.pt"
    train_in_process(with_snapshots, "exponential", "--epochs", "6", "--seed", "2", "--snapshots", "2")
    train_in_process(without, "exponential", "--epochs", "6", "--seed", "2")

    assert gif_frames(tmp_path / "with" / "exponential" / "training.gif")[0] == 3
    assert not (tmp_path / "without" / "exponential").exists()
    first, second = scripted_state(with_snapshots), scripted_state(without)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_snapshots_histogram_pattern(tmp_path: Path) -> None:
    out = tmp_path / "onehot-multiples-of-4.pt"
    train_in_process(out, "onehot-multiples-of-4", "--epochs", "2", "--snapshots", "1")
    folder = tmp_path / "onehot-multiples-of-4"
    assert frame_names(folder) == ["epoch-0001.png", "epoch-0002.png"]
    assert gif_frames(folder / "training.gif") == (2, SIZES["histogram"])


def test_snapshots_resume_and_fresh_run(tmp_path: Path) -> None:
    out = tmp_path / "exponential.pt"
    folder = tmp_path / "exponential"
    train_in_process(out, "exponential", "--epochs", "4", "--snapshots", "2")
    assert frame_names(folder) == ["epoch-0002.png", "epoch-0004.png"]

    # a resumed run keeps the frames it continues from, so the GIF shows the whole run
    train_in_process(out, "exponential", "--epochs", "6", "--snapshots", "2", "--resume")
    assert frame_names(folder) == ["epoch-0002.png", "epoch-0004.png", "epoch-0006.png"]
    assert gif_frames(folder / "training.gif")[0] == 3

    # a fresh run replaces the earlier run's frames
    train_in_process(out, "exponential", "--epochs", "3", "--snapshots", "3")
    assert frame_names(folder) == ["epoch-0003.png"]
    assert gif_frames(folder / "training.gif")[0] == 1


def test_snapshots_rejects_zero(tmp_path: Path) -> None:
    result = invoke("train", "exponential", "--out", tmp_path / "e.pt", "--snapshots", "0", "--quiet")
    stderr = assert_clean_error(result, 2)
    assert "--snapshots" in stderr
    assert not (tmp_path / "e.pt").exists()
