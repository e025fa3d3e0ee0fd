"""Installed plugin distributions, seen by a real `ganpat` subprocess.

Each fake distribution is a module plus a ``*.dist-info`` folder (METADATA and
entry_points.txt) in a folder on PYTHONPATH, which importlib.metadata finds the
same way as one that pip installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SUBPROCESS_TIMEOUT, Completed, ganpat_executable, subprocess_env

GOOD_MODULE = '''
from ganpat import hookimpl
from ganpat.pattern import Condition, Pattern
from ganpat.recipe import Recipe


class Square(Pattern):
    description = "points uniform on the unit square"
    sample_shape = (2,)
    columns = ("x", "y")
    training_set_size = None
    recipes = {"default": Recipe(name="default", architecture="ganpat-mlp", steps_per_epoch=2, epochs=2)}
    target = (Condition("inside", minimum=0.99),)

    def __init__(self, name):
        self.name = name

    def sample(self, n, generator):
        import torch

        return torch.rand(n, 2, generator=generator)

    def metrics(self, samples):
        inside = ((samples >= 0) & (samples < 1)).all(dim=1)
        return {"inside": float(inside.double().mean())}

    def score(self, metrics):
        return metrics["inside"]


@hookimpl
def register_patterns(register):
    register(Square("fake-square"))
'''

BROKEN_MODULE = 'raise ImportError("fake_broken needs numpy 9")\n'

COPY_MODULE = '''
from fake_good import Square
from ganpat import hookimpl


@hookimpl
def register_patterns(register):
    register(Square("fake-square"))
'''

INVALID_MODULE = '''
from fake_good import Square
from ganpat import hookimpl


@hookimpl
def register_patterns(register):
    register(Square("Fake Square"))
    register(Square("fake-valid"))
'''


def write_distribution(site: Path, name: str, version: str, module: str, source: str) -> None:
    """Write ``module``.py and a dist-info folder declaring it as a ganpat entry point of ``name``."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganpat]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder holding the good plugin ganpat-fake-good 0.3.0, to which tests add others."""
    folder = tmp_path / "site"
    folder.mkdir()
    write_distribution(folder, "ganpat-fake-good", "0.3.0", "fake_good", GOOD_MODULE)
    return folder


def run(site: Path, *args: str, load: str | None = None) -> Completed:
    """Run `ganpat` with ``site`` on PYTHONPATH and GANPAT_LOAD_PLUGINS set to ``load`` (unset for None)."""
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env.pop("GANPAT_LOAD_PLUGINS", None)
    if load is not None:
        env["GANPAT_LOAD_PLUGINS"] = load
    done = subprocess.run(
        [ganpat_executable(), *args],
        cwd=site.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def pattern_names(done: Completed) -> set[str]:
    assert done.returncode == 0, done.stderr
    return {row["name"] for row in json.loads(done.stdout)}


def test_installed_plugin_listed(site):
    done = run(site, "plugins", "--json")

    assert done.returncode == 0, done.stderr
    rows = {row["distribution"]: row for row in json.loads(done.stdout)}
    assert rows["ganpat-fake-good"]["version"] == "0.3.0"
    assert rows["ganpat-fake-good"]["name"] == "ganpat-fake-good:fake_good"
    assert rows["ganpat-fake-good"]["hooks"] == ["register_patterns"]
    assert rows["ganpat-fake-good"]["registered"] == ["fake-square"]
    assert "ganpat" not in rows
    assert done.stderr == ""


def test_installed_plugin_table_and_all(site):
    table = run(site, "plugins")
    everything = run(site, "plugins", "--json", "--all")

    assert table.returncode == 0, table.stderr
    assert "ganpat-fake-good" in table.stdout
    assert "fake-square" in table.stdout
    assert "ganpat.builtin.curves" not in table.stdout
    names = {row["name"] for row in json.loads(everything.stdout)}
    assert {"ganpat.builtin.curves", "ganpat-fake-good:fake_good"} <= names


def test_load_plugins_unset_loads_all(site):
    write_distribution(site, "ganpat-fake-copy", "1.0", "fake_copy", COPY_MODULE.replace("fake-square", "fake-other"))

    names = pattern_names(run(site, "list-patterns", "--json"))

    assert {"fake-square", "fake-other", "sine"} <= names


def test_load_plugins_empty_loads_none(site):
    done = run(site, "list-patterns", "--json", load="")
    listed = run(site, "plugins", "--json", load="")

    names = pattern_names(done)
    assert "fake-square" not in names
    assert "ring-8" not in names
    assert "sine" in names
    assert json.loads(listed.stdout) == []


def test_load_plugins_list_loads_only_those(site):
    write_distribution(site, "ganpat-fake-broken", "0.1", "fake_broken", BROKEN_MODULE)
    write_distribution(site, "ganpat-fake-copy", "1.0", "fake_copy", COPY_MODULE.replace("fake-square", "fake-other"))

    done = run(site, "list-patterns", "--json", load="ganpat_fake_good")

    names = pattern_names(done)
    assert "fake-square" in names
    assert "fake-other" not in names
    # the broken distribution was not selected, so it was never imported
    assert done.stderr == ""


def test_load_plugins_unknown_name_warns(site):
    done = run(site, "list-patterns", "--json", load="ganpat-fake-good, ganpat-missing")

    assert "fake-square" in pattern_names(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'ganpat-missing'" in lines[0]
    assert lines[0].startswith("ganpat: warning:")


def test_broken_plugin_skipped_with_one_warning(site):
    write_distribution(site, "ganpat-fake-broken", "0.1", "fake_broken", BROKEN_MODULE)

    listing = run(site, "list-patterns", "--json")
    plugins = run(site, "plugins", "--json")

    assert {"fake-square", "sine"} <= pattern_names(listing)
    assert listing.stderr.strip().splitlines() == [
        "ganpat: warning: skipped plugin ganpat-fake-broken: ImportError: fake_broken needs numpy 9"
    ]
    assert plugins.returncode == 0
    assert "ganpat-fake-broken" not in {row["distribution"] for row in json.loads(plugins.stdout)}


def test_broken_plugin_traceback_with_verbose(site):
    write_distribution(site, "ganpat-fake-broken", "0.1", "fake_broken", BROKEN_MODULE)

    done = run(site, "--verbose", "list-patterns", "--json")

    assert done.returncode == 0, done.stderr
    assert "skipped plugin ganpat-fake-broken" in done.stderr
    assert "Traceback" in done.stderr
    assert 'raise ImportError("fake_broken needs numpy 9")' in done.stderr


def test_broken_plugin_training_still_works(site):
    write_distribution(site, "ganpat-fake-broken", "0.1", "fake_broken", BROKEN_MODULE)

    done = run(site, "train", "fake-square", "--epochs", "1", "--quiet", "--device", "cpu", "--out", "square.pt")

    assert done.returncode == 0, done.stderr
    assert (site.parent / "square.pt").stat().st_size > 0
    assert "skipped plugin ganpat-fake-broken" in done.stderr


def test_model_of_unloaded_plugin_names_it(site):
    trained = run(site, "train", "fake-square", "--epochs", "1", "--quiet", "--device", "cpu", "--out", "square.pt")
    assert trained.returncode == 0, trained.stderr

    done = run(site, "evaluate", "square.pt", load="")

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'fake-square'" in lines[0]
    assert "install the ganpat-fake-good plugin" in lines[0]
    assert "GANPAT_LOAD_PLUGINS" in lines[0]


def test_duplicate_name_across_distributions(site):
    write_distribution(site, "ganpat-fake-copy", "1.0", "fake_copy", COPY_MODULE)

    done = run(site, "list-patterns")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'fake-square'" in lines[0]
    assert "ganpat-fake-good" in lines[0]
    assert "ganpat-fake-copy" in lines[0]


def test_duplicate_avoided_by_load_list(site):
    write_distribution(site, "ganpat-fake-copy", "1.0", "fake_copy", COPY_MODULE)

    done = run(site, "list-patterns", "--json", load="ganpat-fake-copy")

    assert "fake-square" in pattern_names(done)


def test_invalid_item_names_plugin(site):
    write_distribution(site, "ganpat-fake-invalid", "2.0", "fake_invalid", INVALID_MODULE)

    done = run(site, "list-patterns", "--json")

    names = pattern_names(done)
    assert "fake-valid" in names
    assert "Fake Square" not in names
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "plugin ganpat-fake-invalid" in lines[0]
    assert "'Fake Square'" in lines[0]


def test_registration_does_not_import_torch(site):
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env.pop("GANPAT_LOAD_PLUGINS", None)
    code = (
        "import sys\n"
        "from ganpat import plugins\n"
        "loaded = plugins.load()\n"
        "print(sorted(info.distribution for info in loaded.plugins if not info.builtin))\n"
        "print('torch' in sys.modules)\n"
    )

    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    distributions, torch_imported = done.stdout.strip().splitlines()
    assert "ganpat-fake-good" in distributions
    assert torch_imported == "False"
