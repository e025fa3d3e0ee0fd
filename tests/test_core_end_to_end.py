"""The first-run path from README.md, through the installed `ganpat` console script."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from conftest import subprocess_env


def test_train_defaults_then_generate_multiples_of_5(ganpat_process, tmp_path):
    trained = ganpat_process("train", "onehot-multiples-of-5", "--device", "cpu", "--quiet")
    assert trained.returncode == 0, trained.stderr
    model = tmp_path / "files" / "onehot-multiples-of-5.pt"
    assert model.is_file()
    assert "files/onehot-multiples-of-5.pt" in trained.stdout

    generated = ganpat_process("generate", model, "-n", "1000", "--seed", "11", "--format", "csv")
    assert generated.returncode == 0, generated.stderr
    rows = list(csv.reader(io.StringIO(generated.stdout)))
    assert rows[0] == ["value"]
    values = [row[0] for row in rows[1:]]
    assert len(values) == 1000

    multiples = [value for value in values if value != "invalid" and int(value) % 5 == 0]
    assert len(multiples) >= 990, f"{len(multiples)} of 1000 samples are multiples of 5"
    assert all(0 <= int(value) < 100 for value in multiples)


def test_version_and_help(ganpat_process):
    version = ganpat_process("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("ganpat, version ")

    for command in ("train", "generate", "evaluate", "info", "export", "list-patterns", "list-architectures"):
        shown = ganpat_process(command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert "Usage: ganpat" in shown.stdout


IMPORT_CHECK = """
import sys
from ganpat.cli import cli
for args in (["--help"], ["train", "--help"], ["list-patterns"], ["list-architectures", "--json"]):
    try:
        cli(args, prog_name="ganpat")
    except SystemExit as stop:
        assert stop.code in (0, None), (args, stop.code)
print(sorted(name for name in ("torch", "matplotlib") if name in sys.modules))
"""


def test_help_and_listing_skip_heavy_imports(tmp_path):
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=tmp_path, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_list_patterns_json_subprocess(ganpat_process):
    listed = ganpat_process("list-patterns", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [row["name"] for row in json.loads(listed.stdout)]
    assert names.count("onehot-multiples-of-N") == 1
    assert {"exponential", "inverted-u", "sine"} <= set(names)


def run_with_terminal_stderr(args: list[str], cwd) -> tuple[int, str]:
    """Run `ganpat` with stderr on a pseudo-terminal; return the exit status and what the terminal showed."""
    import os
    import pty

    from conftest import ganpat_executable

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [ganpat_executable(), *args], cwd=cwd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=120), shown.decode(errors="replace")


def test_progress_bar_only_on_terminal(ganpat_process, tmp_path):
    args = ["train", "sine", "--epochs", "16", "--out", str(tmp_path / "sine.pt"), "--device", "cpu"]

    status, shown = run_with_terminal_stderr(args, tmp_path)
    assert status == 0
    assert "sine" in shown
    assert "epoch" in shown
    assert "16/16" in shown

    piped = ganpat_process(*args)
    assert piped.returncode == 0
    assert piped.stderr == ""
