"""Shared fixtures: the command line in-process and as a real subprocess, and small trained generators.

The trained generators come from real `ganpat train` runs with a few epochs, so
they are real TorchScript files with real metadata but no quality promise.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from ganpat.cli import cli
from ganpat.persistence import quiet_jit

# Tests share a small machine with other jobs; one thread keeps runs predictable.
torch.set_num_threads(1)

SUBPROCESS_TIMEOUT = 120


def ganpat_executable() -> str:
    """Return the path of the installed `ganpat` console script."""
    beside_python = Path(sys.executable).with_name("ganpat")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("ganpat")
    if found is None:
        raise RuntimeError("the ganpat console script is not installed; run pip install -e '.[test]'")
    return found


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "200"
    return env


@dataclass
class Completed:
    """Exit status and decoded output of one `ganpat` subprocess."""

    returncode: int
    stdout: str
    stderr: str


def run_ganpat(*args: str | Path, cwd: Path, timeout: float = SUBPROCESS_TIMEOUT) -> Completed:
    """Run the real `ganpat` console script in ``cwd`` and return its exit status and output."""
    command = [ganpat_executable(), *(str(arg) for arg in args)]
    done = subprocess.run(
        command, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    return Completed(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def ganpat_process(tmp_path: Path) -> Callable[..., Completed]:
    """Run the `ganpat` console script as a subprocess in this test's tmp_path."""

    def run(*args: str | Path, timeout: float = SUBPROCESS_TIMEOUT) -> Completed:
        return run_ganpat(*args, cwd=tmp_path, timeout=timeout)

    return run


def invoke(*args: str | Path) -> Result:
    """Run the command line in this process with click's CliRunner."""
    # a wide terminal, so rich does not wrap table cells
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(cli, [str(arg) for arg in args], prog_name="ganpat", catch_exceptions=True)


@pytest.fixture
def ganpat_cli() -> Callable[..., Result]:
    """Run the command line in-process; faster than a subprocess, same code path."""
    return invoke


def assert_clean_error(result: Result | Completed, exit_code: int) -> str:
    """Assert an exit status with a short error on stderr and no traceback; return stderr."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    stderr = result.stderr
    assert code == exit_code, f"exit status {code}, expected {exit_code}; stderr: {stderr}"
    assert "Traceback" not in stderr
    if isinstance(result, Result):
        # CliRunner stores an unhandled exception instead of printing it
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Error" in stderr
    return stderr


def train_in_process(out: Path, pattern: str, *options: str) -> dict:
    """Train with `ganpat train --quiet` in-process and return the saved metadata."""
    result = invoke("train", pattern, "--out", out, "--quiet", "--device", "cpu", *options)
    assert result.exit_code == 0, result.output
    info = invoke("info", out, "--json")
    assert info.exit_code == 0, info.output
    return json.loads(info.stdout)


@pytest.fixture(scope="session")
def curve_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator for `exponential`, trained for 32 epochs (two quality checks) with seed 1."""
    out = tmp_path_factory.mktemp("curve") / "exponential.pt"
    train_in_process(out, "exponential", "--epochs", "32", "--seed", "1")
    return out


@pytest.fixture(scope="session")
def onehot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator for `onehot-multiples-of-5`, trained for 10 epochs (two quality checks) with seed 1."""
    out = tmp_path_factory.mktemp("onehot") / "onehot-multiples-of-5.pt"
    train_in_process(out, "onehot-multiples-of-5", "--epochs", "10", "--seed", "1")
    return out


def scripted_state(path: Path) -> dict[str, torch.Tensor]:
    """Load a TorchScript file and return its tensors (parameters and buffers)."""
    with quiet_jit():
        module = torch.jit.load(str(path), map_location="cpu")
    return {name: value.clone() for name, value in module.state_dict().items()}


def leftover_temporaries(folder: Path) -> list[str]:
    """Names of temporary files that an atomic write or the training log left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


def file_size_limit(max_bytes: int) -> Callable[[], None]:
    """Return a preexec_fn that sets RLIMIT_FSIZE to ``max_bytes`` and ignores SIGXFSZ, so big writes fail with EFBIG."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit
