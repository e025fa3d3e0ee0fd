"""Files that `ganpat train --seeds` writes when a run is interrupted or its seed folder is unusable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conftest import assert_clean_error, invoke, leftover_temporaries
from ganpat.multiseed import seed_file, train_seeds
from ganpat.persistence import load_generator
from ganpat.training import TrainRequest


class InterruptAtSecondCheck:
    """Raises KeyboardInterrupt at the second quality check of any seed, as Ctrl-C during training would."""

    def __init__(self) -> None:
        self.checks = 0

    def on_check(self, trainer, member, record) -> None:
        self.checks += 1
        if self.checks >= 2:
            raise KeyboardInterrupt


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_interrupt_keeps_finished_files(tmp_path):
    out = tmp_path / "exponential.pt"
    request = TrainRequest("exponential", out=out, recipe="book", epochs=2, device="cpu")
    train_seeds(request, [0, 1], save_all=True)
    before = snapshot(tmp_path)

    longer = dataclasses.replace(request, epochs=1000)
    outcome = train_seeds(longer, [0, 1], save_all=True, callbacks=[InterruptAtSecondCheck()])

    assert outcome.path == tmp_path / "exponential.interrupted.pt"
    assert load_generator(outcome.path).metadata["interrupted"] is True
    assert seed_file(outcome.path, 0).exists()
    after = snapshot(tmp_path)
    for path, data in before.items():
        assert after[path] == data, path
    assert leftover_temporaries(tmp_path) == []


def test_interrupt_without_earlier_files_uses_out(tmp_path):
    out = tmp_path / "exponential.pt"
    request = TrainRequest("exponential", out=out, recipe="book", epochs=1000, device="cpu")
    outcome = train_seeds(request, [0, 1], save_all=False, callbacks=[InterruptAtSecondCheck()])
    assert outcome.path == out
    assert load_generator(out).metadata["interrupted"] is True


def test_unusable_seed_folder_fails_before_training(tmp_path):
    (tmp_path / "exponential").write_text("a file where the seeds' folder would go")
    out = tmp_path / "exponential.pt"
    result = invoke("train", "exponential", "--seeds", "2", "--save-all", "--epochs", "5", "--out", out, "--device", "cpu")
    stderr = assert_clean_error(result, 2)
    assert "not a folder" in stderr
    assert "target met by" not in result.stdout
    assert not out.exists()
