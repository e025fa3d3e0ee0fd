"""Output paths that cannot be written, seeds past torch's range, and other limits of the command line."""

from __future__ import annotations

import resource
import subprocess
from typing import Callable

import pytest

from conftest import SUBPROCESS_TIMEOUT, Completed, assert_clean_error, ganpat_executable, subprocess_env
from ganpat.errors import UsageProblem
from ganpat.multiseed import parse_seeds
from ganpat.persistence import checkpoint_path
from ganpat.recipe import MAX_SEED
from ganpat.training import interrupted_path, log_path_for


def test_train_out_under_a_file_is_rejected_first(ganpat_cli, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    result = ganpat_cli("train", "sine", "--out", blocker / "sine.pt", "--quiet", "--device", "cpu")

    stderr = assert_clean_error(result, 2)
    assert str(blocker) in stderr
    assert "not a folder" in stderr
    assert len(stderr.strip().splitlines()) == 1
    # rejected before training: nothing but the blocking file is there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.parametrize("command", ["generate", "plot", "export"])
def test_output_under_a_file_is_rejected(ganpat_cli, curve_model, tmp_path, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    suffix = {"generate": "x.csv", "plot": "x.png", "export": "x.pt2"}[command]
    result = ganpat_cli(command, curve_model, "-o", blocker / suffix)

    stderr = assert_clean_error(result, 2)
    assert f"cannot write {blocker / suffix}" in stderr
    assert blocker.read_text() == "a file where a folder should be"


def test_interrupted_path_skips_taken_names(tmp_path):
    out = tmp_path / "sine.pt"
    first = interrupted_path(out)
    assert first == tmp_path / "sine.interrupted.pt"

    first.write_bytes(b"first interrupted run")
    second = interrupted_path(out)
    assert second == tmp_path / "sine.interrupted-2.pt"

    # a leftover log or checkpoint also takes a name
    log_path_for(second).write_text("")
    assert interrupted_path(out) == tmp_path / "sine.interrupted-3.pt"
    checkpoint_path(tmp_path / "sine.interrupted-3.pt").write_bytes(b"")
    assert interrupted_path(out) == tmp_path / "sine.interrupted-4.pt"


def test_seed_past_torch_range_is_rejected(ganpat_cli, curve_model):
    result = ganpat_cli("generate", curve_model, "-n", "3", "--seed", str(MAX_SEED + 1))
    assert_clean_error(result, 2)
    assert ganpat_cli("generate", curve_model, "-n", "3", "--seed", str(MAX_SEED)).exit_code == 0


def test_largest_seeds_give_distinct_samples(ganpat_cli, curve_model):
    # torch gives seed s + 2**63 the stream of seed s, so the largest accepted seed must differ from seed 0 and 1
    outputs = {
        seed: ganpat_cli("generate", curve_model, "-n", "4", "--seed", str(seed)).stdout
        for seed in (0, 1, MAX_SEED, MAX_SEED - 1)
    }
    assert len(set(outputs.values())) == 4


@pytest.mark.parametrize(
    "text",
    [
        "100000000000000000000",
        "0-100000000000000000",
        f"{MAX_SEED},{MAX_SEED + 1}",
        f"{MAX_SEED}-{MAX_SEED + 3}",
    ],
)
def test_parse_seeds_rejects_huge_or_out_of_range(text):
    with pytest.raises(UsageProblem):
        parse_seeds(text)


def test_generate_count_has_a_ceiling(ganpat_cli, curve_model, tmp_path):
    out = tmp_path / "huge.csv"
    result = ganpat_cli("generate", curve_model, "-n", "99999999999999999999", "-o", out)
    assert_clean_error(result, 2)
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["train", "sine", "--out", ""],
        ["train", "sine", "--out", "  "],
        ["generate", "MODEL", "-o", " "],
        ["plot", "MODEL", "-o", ""],
        ["export", "MODEL", "-o", ""],
        ["evaluate", ""],
    ],
)
def test_empty_file_name_rejected(ganpat_cli, curve_model, tmp_path, args):
    args = [curve_model if arg == "MODEL" else arg for arg in args]
    result = ganpat_cli(*args)

    stderr = assert_clean_error(result, 2)
    assert "is empty; give a file name" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def address_space_limit(max_bytes: int) -> Callable[[], None]:
    """Return a preexec_fn that caps the child's address space, so a huge allocation fails at once."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))

    return limit


def test_out_of_memory_is_one_line(tmp_path):
    # the one-hot batch alone needs 80 GB, far over the 8 GiB of address space the child gets
    done = subprocess.run(
        [ganpat_executable(), "train", "onehot-multiples-of-5", "--batch-size", "100000000", "--epochs", "1"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=address_space_limit(8 * 2**30), check=False,
    )  # fmt: skip

    stderr = assert_clean_error(Completed(done.returncode, done.stdout, done.stderr), 1)
    assert stderr.startswith("Error: out of memory")
    assert "--batch-size" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "files" / "onehot-multiples-of-5.pt").exists()
