"""`ganpat train`: the best generator is saved, resume, Ctrl-C, divergence and devices, on real runs."""

from __future__ import annotations

import copy
import json
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import (
    SUBPROCESS_TIMEOUT,
    assert_clean_error,
    ganpat_executable,
    leftover_temporaries,
    scripted_state,
    subprocess_env,
    train_in_process,
)

from ganpat import plugins
from ganpat.engine import CHECK_SAMPLES, CHECK_SEED, Trainer
from ganpat.persistence import checkpoint_path, load_checkpoint, load_generator, save_checkpoint
from ganpat.training import TrainRequest, log_path_for
from ganpat.training import train as run_training


def read_log(model: Path) -> list[dict]:
    lines = log_path_for(model).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_saved_generator_is_best_checked(tmp_path):
    out = tmp_path / "onehot.pt"
    # the book recipe's generator is deterministic given its noise, and it stops on patience
    metadata = train_in_process(
        out, "onehot-multiples-of-5", "--recipe", "book", "--epochs", "400", "--patience", "40", "--seed", "2"
    )
    log = read_log(out)
    best = max(log, key=lambda record: (record["target_met"], record["score"]))

    # the run must have gone past its best check, or this test proves nothing
    assert metadata["best_epoch"] < metadata["epochs_run"]
    assert metadata["stop_reason"] == "patience"
    assert metadata["best_epoch"] == best["epoch"]
    assert metadata["best_score"] == best["score"]

    # the saved generator reproduces the best check's metrics on the checks' own noise
    loaded = load_generator(out)
    noise = torch.randn(CHECK_SAMPLES, loaded.latent_size, generator=torch.Generator().manual_seed(CHECK_SEED))
    with torch.no_grad():
        samples = loaded.module(noise)
    metrics = plugins.registry().pattern("onehot-multiples-of-5").metrics(samples)
    assert metrics == pytest.approx(metadata["metrics"])


def test_check_meeting_target_outranks_higher_score():
    registry = plugins.registry()
    pattern = copy.copy(registry.pattern("sine"))
    # scripted checks: the first scores highest but misses the target, the next two meet it
    scripted = iter([{"score": 0.9, "met": 0.0}, {"score": 0.5, "met": 1.0}, {"score": 0.4, "met": 1.0}])
    pattern.metrics = lambda samples: dict(next(scripted))
    pattern.score = lambda metrics: metrics["score"]
    pattern.target_met = lambda metrics, tighter=None: metrics["met"] == 1.0
    recipe = pattern.default_recipe.replace(epochs=3, steps_per_epoch=1)
    trainer = Trainer(pattern, registry.architecture(recipe.architecture), recipe, seed=0)

    for epoch in (1, 2, 3):
        trainer.epoch = epoch
        trainer._check(0.0, 0.0, time.perf_counter())

    assert trainer.best_epoch == 2
    assert trainer.best_score == 0.5
    assert trainer.best_metrics["met"] == 1.0


def test_train_prints_path_and_quality(ganpat_cli, tmp_path):
    out = tmp_path / "sine.pt"
    result = ganpat_cli("train", "sine", "--epochs", "2", "--out", out, "--quiet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"Saved {out}" in result.stdout
    assert "in_range" in result.stdout
    assert "target" in result.stdout
    assert checkpoint_path(out).exists()
    assert log_path_for(out).exists()
    assert leftover_temporaries(tmp_path) == []


def test_resume_continues_to_epoch_ceiling(tmp_path):
    out = tmp_path / "curve.pt"
    first = train_in_process(out, "exponential", "--recipe", "book", "--epochs", "3", "--seed", "4")
    first_log = read_log(out)
    resumed = train_in_process(out, "exponential", "--recipe", "book", "--epochs", "6", "--seed", "4", "--resume")
    resumed_log = read_log(out)

    assert first["epochs_run"] == 3
    assert resumed["epochs_run"] == 6
    assert resumed_log[: len(first_log)] == first_log
    epochs = [record["epoch"] for record in resumed_log]
    assert epochs == sorted(set(epochs))
    assert epochs[-1] == 6


def test_resume_matches_uninterrupted_run(tmp_path):
    # the book recipe has a constant learning rate, so the schedule does not depend on --epochs
    split = tmp_path / "split.pt"
    whole = tmp_path / "whole.pt"
    train_in_process(split, "exponential", "--recipe", "book", "--epochs", "2", "--seed", "9")
    train_in_process(split, "exponential", "--recipe", "book", "--epochs", "4", "--seed", "9", "--resume")
    train_in_process(whole, "exponential", "--recipe", "book", "--epochs", "4", "--seed", "9")

    resumed_state = scripted_state(split)
    whole_state = scripted_state(whole)
    for name, tensor in whole_state.items():
        assert torch.equal(resumed_state[name], tensor), name
    keys = ("epoch", "step", "d_loss", "g_loss", "score")
    resumed_checks = [[record[key] for key in keys] for record in read_log(split)]
    whole_checks = [[record[key] for key in keys] for record in read_log(whole)]
    assert resumed_checks == whole_checks


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["onehot-multiples-of-5"], "pattern"),
        (["exponential", "--arch", "book-curve"], "architecture"),
        (["exponential", "--recipe", "book"], "add --recipe default"),
        (["exponential", "--seed", "7"], "add --seed 1"),
        (["exponential", "--seed", "1", "--lr", "0.01"], "made with no --lr, not --lr 0.01; drop --lr"),
        (["exponential", "--seed", "1", "--batch-size", "64"], "drop --batch-size"),
        (["exponential", "--seed", "1", "--patience", "9"], "drop --patience"),
    ],
)
def test_resume_rejects_other_identity(ganpat_cli, curve_model, tmp_path, options, named):
    out = tmp_path / "model.pt"
    out.write_bytes(curve_model.read_bytes())
    checkpoint_path(out).write_bytes(checkpoint_path(curve_model).read_bytes())
    before = out.read_bytes()

    result = ganpat_cli("train", *options, "--out", out, "--resume", "--epochs", "50", "--quiet", "--device", "cpu")
    stderr = assert_clean_error(result, 2)
    assert "cannot resume" in stderr
    assert named in stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize("reason", ["target", "patience"])
def test_resume_finished_run_rejected(ganpat_cli, curve_model, tmp_path, reason):
    out = tmp_path / "model.pt"
    out.write_bytes(curve_model.read_bytes())
    state = load_checkpoint(checkpoint_path(curve_model))
    state["stop_reason"] = reason
    save_checkpoint(state, checkpoint_path(out))
    before = out.read_bytes()

    result = ganpat_cli("train", "exponential", "--out", out, "--resume", "--epochs", "50", "--seed", "1", "--quiet")
    stderr = assert_clean_error(result, 2)
    assert "already finished" in stderr
    assert "without --resume" in stderr
    assert out.read_bytes() == before


def test_resume_without_checkpoint(ganpat_cli, tmp_path):
    result = ganpat_cli("train", "sine", "--out", tmp_path / "none.pt", "--resume", "--quiet")
    stderr = assert_clean_error(result, 2)
    assert "checkpoint" in stderr
    assert "without --resume" in stderr


def test_resume_past_epoch_ceiling(ganpat_cli, curve_model, tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(curve_model.read_bytes())
    checkpoint_path(out).write_bytes(checkpoint_path(curve_model).read_bytes())
    result = ganpat_cli("train", "exponential", "--out", out, "--resume", "--epochs", "5", "--seed", "1", "--quiet")
    stderr = assert_clean_error(result, 2)
    assert "--epochs" in stderr


def test_train_help_says_epochs_count_whole_run(ganpat_cli):
    result = ganpat_cli("train", "--help")
    assert result.exit_code == 0
    assert "whole run" in " ".join(result.stdout.split())


class InterruptAtCheck:
    """Raises KeyboardInterrupt at a given quality check, as Ctrl-C during training would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_check(self, trainer, record) -> None:
        if record.epoch >= self.epoch:
            raise KeyboardInterrupt


def test_interrupt_saves_best_marked_interrupted(tmp_path):
    out = tmp_path / "model.pt"
    request = TrainRequest("exponential", out=out, recipe="book", epochs=1000, seed=3, device="cpu")
    outcome = run_training(request, [InterruptAtCheck(epoch=2)])

    assert outcome.path == out
    metadata = load_generator(out).metadata
    assert metadata["interrupted"] is True
    assert metadata["stop_reason"] == "interrupted"
    assert metadata["epochs_run"] == 2
    assert checkpoint_path(out).exists()
    assert leftover_temporaries(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_missing_cuda_is_usage_error(ganpat_cli, tmp_path, device):
    out = tmp_path / "model.pt"
    result = ganpat_cli("train", "sine", "--device", device, "--out", out, "--quiet")
    stderr = assert_clean_error(result, 2)
    assert device in stderr
    assert "--device cpu" in stderr
    assert not out.exists()


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu"])
def test_invalid_device_is_usage_error(ganpat_cli, tmp_path, device):
    result = ganpat_cli("train", "sine", "--device", device, "--out", tmp_path / "model.pt", "--quiet")
    stderr = assert_clean_error(result, 2)
    assert device in stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_generate_on_missing_cuda(ganpat_cli, curve_model):
    result = ganpat_cli("generate", curve_model, "-n", "3", "--device", "cuda")
    stderr = assert_clean_error(result, 2)
    assert "CUDA" in stderr


def test_resume_requires_same_overrides(ganpat_cli, tmp_path):
    out = tmp_path / "model.pt"
    first = ganpat_cli("train", "exponential", "--recipe", "book", "--epochs", "2", "--lr", "0.0001",
                       "--out", out, "--quiet", "--device", "cpu")  # fmt: skip
    assert first.exit_code == 0, first.output

    result = ganpat_cli("train", "exponential", "--recipe", "book", "--epochs", "4", "--out", out, "--resume",
                        "--quiet", "--device", "cpu")  # fmt: skip
    stderr = assert_clean_error(result, 2)
    assert "made with --lr 0.0001, not no --lr; add --lr 0.0001" in stderr


def test_interrupt_before_checkpoint_offers_no_resume(ganpat_cli, tmp_path, monkeypatch):
    """Stopped in its first epoch, a run has no checkpoint, so the message must not suggest --resume."""

    def interrupted(trainer):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    out = tmp_path / "model.pt"
    result = ganpat_cli("train", "exponential", "--out", out, "--quiet", "--device", "cpu")

    assert result.exit_code == 130, result.output
    assert "Interrupted at epoch 0" in result.stderr
    assert "No checkpoint was written" in result.stderr
    assert "Continue from" not in result.stderr
    assert out.exists()
    assert not checkpoint_path(out).exists()


@pytest.mark.parametrize(("options", "environment", "expected"), [([], None, 1), (["--threads", "2"], None, 2), ([], "2", 2)])
def test_train_threads(tmp_path, options, environment, expected):
    """train uses one torch thread unless --threads or OMP_NUM_THREADS sets another count, and records the count."""
    env = subprocess_env()
    del env["OMP_NUM_THREADS"]
    if environment is not None:
        env["OMP_NUM_THREADS"] = environment
    out = tmp_path / "model.pt"
    done = subprocess.run(
        [ganpat_executable(), "train", "exponential", "--epochs", "1", "--out", str(out), *options],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert load_generator(out).metadata["cpu_threads"] == expected
