"""Guards on outputs and saves: no sample or picture replaces a model, even through a link.

Also covered: damage in a zip header, write errors on standard output, the training
log written through a link, and stop signals held while a run saves its files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import (
    SUBPROCESS_TIMEOUT,
    assert_clean_error,
    file_size_limit,
    ganpat_executable,
    subprocess_env,
    train_in_process,
)

from ganpat import signals
from ganpat.multiseed import train_seeds
from ganpat.persistence import checkpoint_path, save_checkpoint
from ganpat.training import TrainRequest, log_path_for


def test_plot_link_to_model_rejected(ganpat_cli, curve_model, tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(curve_model.read_bytes())
    picture = tmp_path / "picture.png"
    picture.symlink_to(model.name)

    stderr = assert_clean_error(ganpat_cli("plot", model, "-o", picture, "-n", "100"), 2)
    assert "a link to" in stderr
    assert model.read_bytes() == curve_model.read_bytes()
    assert picture.is_symlink()


@pytest.mark.parametrize("link_target", ["victim.pt", "victim"])
def test_generate_link_to_model_rejected(ganpat_cli, curve_model, tmp_path, link_target):
    victim = tmp_path / link_target
    victim.write_bytes(curve_model.read_bytes())
    samples = tmp_path / "samples.csv"
    samples.symlink_to(victim.name)

    stderr = assert_clean_error(ganpat_cli("generate", curve_model, "-o", samples), 2)
    assert len(stderr.strip().splitlines()) == 1
    assert victim.read_bytes() == curve_model.read_bytes()


def test_generate_over_checkpoint_rejected(ganpat_cli, curve_model, tmp_path):
    checkpoint = tmp_path / "model.pt.ckpt"
    checkpoint.write_bytes(b"a checkpoint")
    stderr = assert_clean_error(ganpat_cli("generate", curve_model, "-o", checkpoint), 2)
    assert ".ckpt" in stderr
    assert checkpoint.read_bytes() == b"a checkpoint"


def test_damaged_zip_header_is_one_line(ganpat_process, curve_model, tmp_path):
    damaged = tmp_path / "damaged.pt"
    data = bytearray(curve_model.read_bytes())
    with zipfile.ZipFile(curve_model) as archive:
        member = archive.infolist()[1]
    # overwrite the start of the member's name in its local header, which follows 30 fixed bytes
    start = member.header_offset + 30
    data[start : start + 4] = b"\xff" * 4
    damaged.write_bytes(bytes(data))

    done = ganpat_process("info", damaged)
    stderr = assert_clean_error(done, 1)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "is damaged" in stderr


def test_stdout_write_error_is_one_line(curve_model, tmp_path):
    with open(tmp_path / "samples.csv", "w") as stdout:
        done = subprocess.run(
            [ganpat_executable(), "generate", str(curve_model), "-n", "100000"],
            cwd=tmp_path, env=subprocess_env(), stdout=stdout, stderr=subprocess.PIPE, text=True,
            timeout=SUBPROCESS_TIMEOUT, preexec_fn=file_size_limit(20_000), check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["Error: cannot write standard output: File too large"]


def test_training_log_follows_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    out = files / "exponential.pt"
    log = log_path_for(out)
    (real / log.name).write_text("an earlier log\n")
    log.symlink_to(Path("..") / "real" / log.name)

    train_in_process(out, "exponential", "--recipe", "book", "--epochs", "2")

    assert log.is_symlink()
    assert (real / log.name).read_text().count("\n") >= 2
    assert "an earlier log" not in (real / log.name).read_text()


def test_deferred_holds_interrupt_until_block_ends():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("saved")
    assert finished == ["saved"]
    # the usual Ctrl-C handler is back after the block
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_without_signal_raises_nothing():
    with signals.deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_seeds_remove_stale_checkpoint(curve_model, tmp_path):
    out = tmp_path / "exponential.pt"
    out.write_bytes(curve_model.read_bytes())
    save_checkpoint({"identity": {"seed": 5}}, checkpoint_path(out))

    train_seeds(TrainRequest("exponential", out=out, recipe="book", epochs=1, device="cpu"), [0, 1], save_all=False)

    assert not checkpoint_path(out).exists()
