"""Usage errors that click raises (bad option values, unknown commands, missing arguments), shown as one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import assert_clean_error, subprocess_env


@pytest.mark.parametrize(
    ("args", "names", "help_command"),
    [
        (["train", "exponential", "--seed", "-3"], ["'--seed'", "-3"], "ganpat train --help"),
        (["trian"], ["'trian'", "'train'"], "ganpat --help"),
        (["--bogus"], ["'--bogus'"], "ganpat --help"),
        (["generate"], ["'MODEL'"], "ganpat generate --help"),
        (["generate", "model.pt", "--format", "xml"], ["'--format'", "'xml'"], "ganpat generate --help"),
        (["list-patterns", "extra"], ["extra"], "ganpat list-patterns --help"),
        (["generate", "model.pt", "-n", "1e3"], ["'-n'", "'1e3'", "write 1000"], "ganpat generate --help"),
        (["generate", "model.pt", "-n", "2.5"], ["'2.5' is not a whole number"], "ganpat generate --help"),
        (["train", "sine", "--epochs", "1e2"], ["'--epochs'", "write 100"], "ganpat train --help"),
    ],
)
def test_usage_error_one_line(ganpat_cli, args, names, help_command):
    stderr = assert_clean_error(ganpat_cli(*args), 2)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Usage:" not in stderr
    for name in names:
        assert name in stderr
    assert f"See '{help_command}'." in stderr


def test_usage_error_subprocess():
    done = subprocess.run(
        [sys.executable, "-m", "ganpat", "train", "exponential", "--batch-size", "0"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: Invalid value for '--batch-size': 0")


def test_bare_command_shows_help(ganpat_cli):
    result = ganpat_cli()
    assert result.exit_code == 2
    assert "Commands:" in result.output


def test_format_suffix_mismatch(ganpat_cli, curve_model, tmp_path):
    output = tmp_path / "samples.csv"
    stderr = assert_clean_error(ganpat_cli("generate", curve_model, "-o", output, "--format", "npy"), 2)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "npy does not match the suffix" in stderr
    assert "samples.npy" in stderr
    assert not output.exists()


def test_format_matching_suffix_writes(ganpat_cli, curve_model, tmp_path):
    output = tmp_path / "samples.npy"
    result = ganpat_cli("generate", curve_model, "-n", "5", "-o", output, "--format", "npy")
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"\x93NUMPY")
