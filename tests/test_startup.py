"""Start-up: listing commands and help must not import torch or matplotlib.

Each command runs in a fresh interpreter, so a failure names the one command
that pulled a heavy module in.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import subprocess_env

HEAVY_MODULES = ("torch", "matplotlib")

CHECK = """
import json, sys
from ganpat.cli import cli
try:
    cli(json.loads(sys.argv[1]), prog_name="ganpat")
except SystemExit as stop:
    if stop.code not in (0, None):
        raise
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["list-patterns"],
        ["list-patterns", "--json"],
        ["list-architectures"],
        ["plugins"],
        ["plugins", "--all", "--json"],
        ["generate", "--help"],
    ],
)
def test_command_skips_heavy_imports(tmp_path, args):
    done = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(args), json.dumps(HEAVY_MODULES)],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"ganpat {' '.join(args)} imported {imported}"


def test_list_patterns_shows_builtins_without_torch(tmp_path):
    code = CHECK.replace("cli(json.loads(sys.argv[1])", "cli(['list-patterns', '--json']")
    done = subprocess.run(
        [sys.executable, "-c", code, "[]", json.dumps(HEAVY_MODULES)],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed, imported = done.stdout.rsplit("\n[", 1)[0], done.stdout.strip().splitlines()[-1]
    names = {row["name"] for row in json.loads(listed)}
    assert {"exponential", "onehot-multiples-of-N"} <= names
    assert json.loads(imported) == []
