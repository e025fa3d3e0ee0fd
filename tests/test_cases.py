"""Bad and edge inputs that users of GAN toolkits have hit, each kept as a test of ganpat's response."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    assert_clean_error,
    ganpat_executable,
    invoke,
    leftover_temporaries,
    scripted_state,
    subprocess_env,
    train_in_process,
)

from ganpat.builtin import networks
from ganpat.architecture import ModelSpec
from ganpat.generation import CHUNK, sample_chunks
from ganpat.persistence import checkpoint_path, load_generator, quiet_jit
from ganpat.training import log_path_for


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# exact sample counts


@pytest.mark.parametrize("count", [1, 127, 128, 129, 1000])
def test_generate_writes_exact_count_csv(ganpat_cli, curve_model, count):
    result = ganpat_cli("generate", curve_model, "-n", str(count))
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    assert rows[0] == ["x", "y"]
    assert len(rows) == count + 1


@pytest.mark.parametrize("count", [CHUNK - 1, CHUNK, CHUNK + 1, 1_000_003])
def test_generate_writes_exact_count_npy(ganpat_cli, curve_model, tmp_path, count):
    output = tmp_path / "samples.npy"
    result = ganpat_cli("generate", curve_model, "-n", str(count), "-o", output)
    assert result.exit_code == 0, result.output
    samples = np.load(output)
    assert samples.shape == (count, 2)
    assert np.isfinite(samples).all()


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_generate_writes_exact_count_json(ganpat_cli, onehot_model, fmt):
    result = ganpat_cli("generate", onehot_model, "-n", "129", "--format", fmt)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout) if fmt == "json" else [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 129
    assert all(set(record) == {"value"} for record in records)


@pytest.mark.parametrize("count", [1, 127, 128, 129, 257])
def test_sample_chunks_cover_count_exactly(curve_model, count):
    loaded = load_generator(curve_model)
    sizes = [len(chunk) for chunk in sample_chunks(loaded, count, seed=0, chunk=128)]
    assert sum(sizes) == count
    assert all(size <= 128 for size in sizes)


# zero and negative counts


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("csv", "x,y\n"), ("json", "[]\n"), ("jsonl", "")],
)
def test_generate_zero_samples_text(ganpat_cli, curve_model, fmt, expected):
    result = ganpat_cli("generate", curve_model, "-n", "0", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected


def test_generate_zero_samples_npy(ganpat_cli, curve_model, tmp_path):
    output = tmp_path / "empty.npy"
    result = ganpat_cli("generate", curve_model, "-n", "0", "-o", output)
    assert result.exit_code == 0, result.output
    assert np.load(output).shape == (0, 2)


def test_generate_negative_count_is_usage_error(ganpat_cli, curve_model):
    result = ganpat_cli("generate", curve_model, "-n", "-5")
    stderr = assert_clean_error(result, 2)
    assert "-n" in stderr
    assert result.stdout == ""


# seeds


def test_same_seed_gives_identical_generators(ganpat_process, tmp_path):
    by_subprocess = tmp_path / "seed7-subprocess.pt"
    by_runner = tmp_path / "seed7-runner.pt"
    other_seed = tmp_path / "seed8.pt"
    done = ganpat_process("train", "exponential", "--seed", "7", "--epochs", "3", "--device", "cpu",
                          "--out", by_subprocess, "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    train_in_process(by_runner, "exponential", "--seed", "7", "--epochs", "3")
    train_in_process(other_seed, "exponential", "--seed", "8", "--epochs", "3")

    first = scripted_state(by_subprocess)
    second = scripted_state(by_runner)
    third = scripted_state(other_seed)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert any(not torch.equal(first[name], third[name]) for name in first)

    paths = (by_subprocess, by_runner, other_seed)
    outputs = [invoke("generate", path, "-n", "50", "--seed", "1").stdout for path in paths]
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


# batch size larger than the training set


def test_oversized_batch_is_clamped_with_warning(ganpat_cli, tmp_path):
    out = tmp_path / "model.pt"
    result = ganpat_cli("train", "exponential", "--batch-size", "5000", "--epochs", "2", "--out", out,
                        "--quiet", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Warning" in result.stderr
    assert "--batch-size 5000" in result.stderr
    assert "2048" in result.stderr

    metadata = load_generator(out).metadata
    assert metadata["batch_size_used"] == 2048
    assert metadata["steps"] >= metadata["epochs_run"] == 2
    assert metadata["recipe"]["batch_size"] == 5000


# invalid numeric options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--epochs", "0"),
        ("--epochs", "-1"),
        ("--batch-size", "0"),
        ("--lr", "0"),
        ("--lr", "-0.1"),
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--lr", "ten"),
        ("--patience", "0"),
    ],
)
def test_invalid_training_option_is_usage_error(ganpat_cli, tmp_path, option, value):
    out = tmp_path / "model.pt"
    result = ganpat_cli("train", "exponential", option, value, "--out", out, "--quiet")
    stderr = assert_clean_error(result, 2)
    assert option in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1
    assert not out.exists()


# divergence


def test_high_learning_rate_never_saves_nan(ganpat_cli, tmp_path):
    out = tmp_path / "model.pt"
    result = ganpat_cli("train", "exponential", "--lr", "10", "--epochs", "10", "--out", out, "--quiet",
                        "--device", "cpu")  # fmt: skip
    if result.exit_code == 0:
        # the losses stayed finite: the saved generator must produce finite samples
        for record in [json.loads(line) for line in log_path_for(out).read_text().splitlines()]:
            assert np.isfinite([record["d_loss"], record["g_loss"]]).all(), record
        generated = ganpat_cli("generate", out, "-n", "1000", "--raw", "--format", "json")
        values = np.array([[row["v0"], row["v1"]] for row in json.loads(generated.stdout)])
        assert np.isfinite(values).all()
    else:
        stderr = assert_clean_error(result, 1)
        assert "epoch" in stderr
        assert "lower learning rate" in stderr
        assert not out.exists()


def test_divergence_names_epoch_and_saves_nothing(ganpat_cli, tmp_path):
    out = tmp_path / "model.pt"
    result = ganpat_cli("train", "exponential", "--lr", "1e6", "--epochs", "30", "--out", out, "--quiet",
                        "--device", "cpu")  # fmt: skip
    stderr = assert_clean_error(result, 1)
    assert "diverged at epoch" in stderr
    assert "lower learning rate" in stderr
    assert "--lr 1e+06" in stderr
    assert not out.exists()
    assert not log_path_for(out).exists()
    assert leftover_temporaries(tmp_path) == []


# one-hot rows without a clear maximum


class FixedRows(torch.nn.Module):
    """A one-hot generator whose rows are ``positive`` where z[:, 0] > 0 and ``other`` elsewhere."""

    def __init__(self, positive: list[float], other: list[float]) -> None:
        super().__init__()
        self.register_buffer("positive", torch.tensor(positive))
        self.register_buffer("other", torch.tensor(other))
        # unused in forward: ganpat infers a plain generator's latent size (100) from its first weight matrix
        self.latent_width = torch.nn.Linear(100, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        chosen = (z[:, :1] > 0).float()
        return chosen * self.positive + (1 - chosen) * self.other


def save_plain(module: torch.nn.Module, path: Path) -> Path:
    with quiet_jit():
        torch.jit.script(module.eval()).save(str(path))
    return path


ZERO = [1.0] + [0.0] * 99
ALL_ZEROS = [0.0] * 100
TIE = [1.0 if i in (0, 5) else 0.0 for i in range(100)]


@pytest.mark.parametrize("bad_row", [ALL_ZEROS, TIE], ids=["all zeros", "tie"])
def test_rows_without_clear_maximum_are_invalid(ganpat_cli, tmp_path, bad_row):
    model = save_plain(FixedRows(ZERO, bad_row), tmp_path / "fixed.pt")
    pattern = ("--pattern", "onehot-multiples-of-5")

    generated = ganpat_cli("generate", model, "-n", "400", *pattern)
    assert generated.exit_code == 0, generated.output
    values = [row[0] for row in csv_rows(generated.stdout)[1:]]
    assert len(values) == 400
    assert set(values) == {"0", "invalid"}

    evaluated = ganpat_cli("evaluate", model, "-n", "400", "--json", *pattern)
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)["metrics"]
    assert metrics["valid"] == pytest.approx(values.count("0") / 400)
    assert metrics["valid"] < 1.0

    as_json = json.loads(ganpat_cli("generate", model, "-n", "400", "--format", "json", *pattern).stdout)
    assert [record["value"] for record in as_json].count(None) == values.count("invalid")


# files that are not generators


def bad_model_files(folder: Path, real: Path) -> dict[str, Path]:
    empty = folder / "empty.pt"
    empty.write_bytes(b"")
    text = folder / "notes.pt"
    text.write_text("epochs: 300\nthis is not a model\n")
    truncated = folder / "truncated.pt"
    data = real.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    state_dict = folder / "state_dict.pt"
    torch.save(networks.book_curve_generator(ModelSpec(2)).state_dict(), str(state_dict))
    return {"empty": empty, "text": text, "truncated": truncated, "state dict": state_dict}


BAD_FILE_WORDS = {"empty": "empty", "text": "text file", "truncated": "truncated", "state dict": "torch.save"}


@pytest.mark.parametrize("kind", sorted(BAD_FILE_WORDS))
@pytest.mark.parametrize("command", [["generate", "-n", "3"], ["info"], ["evaluate", "-n", "10"], ["export", "-o", "x.pt2"]])
def test_bad_model_file_is_one_line_error(ganpat_cli, curve_model, tmp_path, kind, command):
    path = bad_model_files(tmp_path, curve_model)[kind]
    name, *options = command
    if name == "export":
        options = ["-o", str(tmp_path / "x.pt2")]
    result = ganpat_cli(name, path, *options)
    stderr = assert_clean_error(result, 1)
    assert len(stderr.strip().splitlines()) == 1
    assert str(path) in stderr
    assert BAD_FILE_WORDS[kind] in stderr
    assert not (tmp_path / "x.pt2").exists()


def test_missing_model_file_is_usage_error(ganpat_cli, tmp_path):
    result = ganpat_cli("generate", tmp_path / "absent.pt", "-n", "3")
    stderr = assert_clean_error(result, 2)
    assert "does not exist" in stderr


# plain TorchScript generators without ganpat metadata


@pytest.fixture
def plain_curve_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_plain(networks.book_curve_generator(ModelSpec(2)), tmp_path / "notebook.pt")


def test_plain_generator_needs_pattern(ganpat_cli, plain_curve_model):
    for command in (["generate", "-n", "3"], ["evaluate", "-n", "10"]):
        result = ganpat_cli(command[0], plain_curve_model, *command[1:])
        stderr = assert_clean_error(result, 2)
        assert "--pattern" in stderr
        assert str(plain_curve_model) in stderr


def test_plain_generator_works_with_pattern(ganpat_cli, plain_curve_model):
    generated = ganpat_cli("generate", plain_curve_model, "-n", "25", "--pattern", "exponential")
    assert generated.exit_code == 0, generated.output
    rows = csv_rows(generated.stdout)
    assert rows[0] == ["x", "y"]
    assert len(rows) == 26

    evaluated = ganpat_cli("evaluate", plain_curve_model, "--pattern", "exponential", "-n", "500", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["pattern"] == "exponential"
    assert set(report["metrics"]) == {"in_range", "on_curve", "x_coverage_w1"}

    info = json.loads(ganpat_cli("info", plain_curve_model, "--json").stdout)
    assert info["latent_size"] == 2


def test_plain_onehot_generator_prints_integers(ganpat_cli, tmp_path):
    torch.manual_seed(0)
    model = save_plain(networks.book_onehot_generator(ModelSpec(100)), tmp_path / "onehot.pt")
    result = ganpat_cli("generate", model, "-n", "30", "--pattern", "onehot-multiples-of-5")
    assert result.exit_code == 0, result.output
    for (value,) in csv_rows(result.stdout)[1:]:
        assert value == "invalid" or 0 <= int(value) < 100


def test_plain_generator_with_wrong_pattern(ganpat_cli, plain_curve_model):
    result = ganpat_cli("generate", plain_curve_model, "-n", "3", "--pattern", "onehot-multiples-of-5")
    stderr = assert_clean_error(result, 2)
    assert "shape" in stderr


# generators saved on a GPU


def claim_cuda_storage(source: Path, target: Path) -> Path:
    """Copy a TorchScript file, rewriting its tensors' storage location from cpu to cuda.

    A generator scripted and saved while on a GPU records that location. Building one
    for real needs CUDA, which the test machine does not have.
    """
    cpu = b"X\x03\x00\x00\x00cpu"  # the pickle opcode BINUNICODE with its 4-byte length
    cuda = b"X\x04\x00\x00\x00cuda"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as copy:
        for entry in original.infolist():
            data = original.read(entry.filename)
            if entry.filename.endswith("/data.pkl"):
                assert data.count(cpu) == 1
                data = data.replace(cpu, cuda)
            copy.writestr(entry.filename, data)
    return target


def test_gpu_saved_generator_loads_on_cpu(ganpat_cli, curve_model, tmp_path):
    gpu_file = claim_cuda_storage(curve_model, tmp_path / "from-gpu.pt")
    if not torch.cuda.is_available():
        # without map_location torch refuses, which proves the copy really claims CUDA storage
        with pytest.raises(RuntimeError, match="(?i)cuda"), quiet_jit():
            torch.jit.load(str(gpu_file))

    from_gpu = ganpat_cli("generate", gpu_file, "-n", "40", "--seed", "3")
    from_cpu = ganpat_cli("generate", curve_model, "-n", "40", "--seed", "3")
    assert from_gpu.exit_code == 0, from_gpu.output
    assert from_gpu.stdout == from_cpu.stdout
    assert ganpat_cli("info", gpu_file, "--json").exit_code == 0
    assert ganpat_cli("evaluate", gpu_file, "-n", "100").exit_code == 0


# an existing --out when training fails or is interrupted


def test_failed_training_keeps_existing_out(ganpat_cli, tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"an earlier generator")
    result = ganpat_cli("train", "exponential", "--lr", "1e6", "--epochs", "30", "--out", out, "--quiet",
                        "--device", "cpu")  # fmt: skip
    assert_clean_error(result, 1)
    assert out.read_bytes() == b"an earlier generator"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def wait_for_first_check(folder: Path, log_name: str, process: subprocess.Popen, timeout: float) -> None:
    """Wait until the training log, still a temporary file, contains its first line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ganpat train exited early with status {process.returncode}")
        for path in folder.glob(f".{log_name}.*.tmp"):
            if path.read_text().count("\n") >= 1:
                return
        time.sleep(0.05)
    raise AssertionError("ganpat train wrote no quality check in time")


def test_ctrl_c_keeps_existing_out(tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"an earlier generator")
    command = [ganpat_executable(), "train", "exponential", "--recipe", "book", "--epochs", "100000",
               "--patience", "100000", "--out", str(out), "--quiet", "--device", "cpu"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for_first_check(tmp_path, log_path_for(out).name, process, timeout=90)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Interrupted at epoch" in stderr
    assert out.read_bytes() == b"an earlier generator"

    saved = tmp_path / "model.interrupted.pt"
    assert str(saved) in stderr
    # the message names the file to resume and repeats the options the run was started with
    resume = f"ganpat train exponential --out {saved} --resume --recipe book --epochs 100000 --patience 100000"
    assert resume in stderr
    metadata = load_generator(saved).metadata
    assert metadata["interrupted"] is True
    assert metadata["epochs_run"] >= 1
    # the interrupted run's log and checkpoint sit beside its own generator, not beside --out
    assert checkpoint_path(saved).exists()
    assert log_path_for(saved).exists()
    assert not checkpoint_path(out).exists()
    assert not log_path_for(out).exists()
    assert leftover_temporaries(tmp_path) == []
