"""Writing and reading files safely: devices, FIFOs, links, write errors, damaged models and stop signals.

The write-error tests run `ganpat` in a subprocess with a file size limit
(RLIMIT_FSIZE) and SIGXFSZ ignored, so a write past the limit fails with EFBIG as
a full disk fails with ENOSPC. The signal tests send real SIGTERM and SIGHUP.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

from conftest import (
    SUBPROCESS_TIMEOUT,
    Completed,
    assert_clean_error,
    file_size_limit,
    ganpat_executable,
    leftover_temporaries,
    subprocess_env,
)
from ganpat.errors import GanpatError, UsageProblem
from ganpat.file_writes import WriteFailed, atomic_write, check_writable
from ganpat.persistence import checkpoint_path, load_generator

# a file size limit that lets a few hundred CSV rows through, far below what the runs below write
SIZE_LIMIT_BYTES = 20_000


def run_limited(*args: str | Path, cwd: Path, max_file_size: int) -> Completed:
    """Run `ganpat` with RLIMIT_FSIZE set to ``max_file_size`` and SIGXFSZ ignored, so big writes fail with EFBIG."""
    done = subprocess.run(
        [ganpat_executable(), *(str(arg) for arg in args)],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=file_size_limit(max_file_size),
        check=False,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def start_ganpat(*args: str | Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [ganpat_executable(), *(str(arg) for arg in args)],
        cwd=cwd,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_file(folder: Path, pattern: str, process: subprocess.Popen, timeout: float = 90) -> Path:
    """Return the first file in ``folder`` that matches ``pattern``, waiting while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        if process.poll() is not None:
            raise AssertionError(f"ganpat exited with status {process.returncode} before {pattern} appeared")
        time.sleep(0.05)
    raise AssertionError(f"no file matching {pattern} appeared in {folder}")


def stop(process: subprocess.Popen, number: int) -> tuple[str, str]:
    """Send signal ``number`` to ``process`` and return its stdout and stderr once it exits."""
    try:
        process.send_signal(number)
        return process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def damage(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` with 200 bytes in the middle overwritten."""
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = b"x" * 200
    target.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def program_model(curve_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The curve model exported as a torch.export program (.pt2)."""
    from conftest import invoke

    out = tmp_path_factory.mktemp("program") / "exponential.pt2"
    result = invoke("export", curve_model, "-o", out)
    assert result.exit_code == 0, result.output
    return out


# targets that are not regular files


def test_generate_writes_into_fifo(ganpat_cli, curve_model, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        result = ganpat_cli("generate", curve_model, "-n", "3", "-o", fifo)
    finally:
        # open the FIFO for writing, so a reader still waiting returns even when generate failed
        if reader.is_alive():
            with open(fifo, "wb"):
                pass
        reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert received[0].decode().splitlines()[0] == "x,y"
    assert len(received[0].decode().splitlines()) == 4
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]


def test_generate_through_symlink_keeps_link(ganpat_cli, curve_model, tmp_path):
    target = tmp_path / "data" / "samples.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)

    result = ganpat_cli("generate", curve_model, "-n", "3", "-o", link)

    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_text().splitlines()[0] == "x,y"
    assert len(target.read_text().splitlines()) == 4
    assert leftover_temporaries(tmp_path) == []
    assert leftover_temporaries(target.parent) == []


def test_atomic_write_through_dangling_link(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "new.csv")
    atomic_write(link, lambda temporary: temporary.write_text("new\n"))
    assert link.is_symlink()
    assert (tmp_path / "new.csv").read_text() == "new\n"


def test_generate_to_dev_full_fails(ganpat_process, curve_model):
    device = Path("/dev/full")
    if not device.exists() or not stat.S_ISCHR(device.lstat().st_mode):
        pytest.skip("/dev/full is not a character device on this machine")
    before = device.lstat()

    done = ganpat_process("generate", curve_model, "-n", "10", "-o", device)

    after = device.lstat()
    assert stat.S_ISCHR(after.st_mode), "/dev/full was replaced"
    assert after.st_rdev == before.st_rdev
    stderr = assert_clean_error(done, 1)
    assert stderr.strip().splitlines() == ["Error: cannot write /dev/full: No space left on device"]


# outputs that would destroy the model or its files


def test_generate_rejects_model_as_output(ganpat_cli, curve_model, tmp_path):
    model = tmp_path / "model"
    shutil.copy(curve_model, model)
    before = model.read_bytes()
    result = ganpat_cli("generate", model, "--pattern", "exponential", "-o", model)
    stderr = assert_clean_error(result, 2)
    assert "is the model file itself" in stderr
    assert model.read_bytes() == before


@pytest.mark.parametrize("name", ["samples.pt", "samples.pt2"])
def test_generate_rejects_model_suffix(ganpat_cli, curve_model, tmp_path, name):
    result = ganpat_cli("generate", curve_model, "-o", tmp_path / name)
    stderr = assert_clean_error(result, 2)
    assert "the suffix of a model file" in stderr
    assert "samples.csv" in stderr
    assert not (tmp_path / name).exists()


def test_generate_rejects_training_log(ganpat_cli, curve_model, tmp_path):
    log = curve_model.with_name(load_generator(curve_model).metadata["training_log"])
    before = log.read_bytes()
    result = ganpat_cli("generate", curve_model, "-o", log)
    stderr = assert_clean_error(result, 2)
    assert "training log" in stderr
    assert log.read_bytes() == before


def test_generate_unknown_suffix_is_csv(ganpat_cli, curve_model, tmp_path):
    output = tmp_path / "samples.txt"
    result = ganpat_cli("generate", curve_model, "-n", "2", "-o", output)
    assert result.exit_code == 0, result.output
    assert output.read_text().splitlines()[0] == "x,y"


def test_generate_empty_output_name(ganpat_cli, curve_model):
    result = ganpat_cli("generate", curve_model, "-o", "")
    stderr = assert_clean_error(result, 2)
    assert "--output '' is empty" in stderr


@pytest.mark.parametrize(
    ("name", "hint"),
    [("model.pt2", "ganpat export model.pt -o"), ("model.csv", "such as model.pt"), ("model", "such as model.pt")],
)
def test_train_out_must_end_in_pt(ganpat_cli, tmp_path, name, hint):
    out = tmp_path / name
    result = ganpat_cli("train", "sine", "--out", out, "--quiet", "--device", "cpu")
    stderr = assert_clean_error(result, 2)
    assert hint in stderr.replace(str(tmp_path) + "/", "")
    assert list(tmp_path.iterdir()) == []


def test_train_seeds_out_must_end_in_pt(ganpat_cli, tmp_path):
    result = ganpat_cli("train", "sine", "--seeds", "2", "--save-all", "--out", tmp_path / "model.csv", "--quiet")
    assert_clean_error(result, 2)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_names_existing_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    immutable = False
    try:
        if os.access(locked, os.W_OK):
            # root ignores the mode bits, but not the immutable attribute
            immutable = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, check=False).returncode == 0
            if not immutable:
                pytest.skip("cannot make a folder unwritable for this user")
        with pytest.raises(UsageProblem) as raised:
            check_writable(locked / "sub" / "samples.csv")
        message = str(raised.value)
        assert message.startswith(f"cannot write {locked / 'sub' / 'samples.csv'}: ")
        assert f" in {locked};" in message
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=False)
        locked.chmod(0o755)


# write errors


def test_atomic_write_reports_os_error(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"the old generator")

    def write_half_then_fail(temporary: Path) -> None:
        temporary.write_bytes(b"half of a new gen")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteFailed, match=f"^cannot write {target}: No space left on device$"):
        atomic_write(target, write_half_then_fail)
    assert target.read_bytes() == b"the old generator"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_generate_file_too_large(curve_model, tmp_path):
    output = tmp_path / "samples.csv"
    output.write_text("old\n")

    done = run_limited("generate", curve_model, "-n", "100000", "-o", output, cwd=tmp_path, max_file_size=SIZE_LIMIT_BYTES)

    stderr = assert_clean_error(done, 1)
    assert stderr.strip().splitlines() == [f"Error: cannot write {output}: File too large"]
    assert output.read_text() == "old\n"
    assert leftover_temporaries(tmp_path) == []


def test_train_file_too_large(tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"an earlier generator")

    done = run_limited("train", "exponential", "--epochs", "16", "--out", out, "--quiet", "--device", "cpu",
                       cwd=tmp_path, max_file_size=SIZE_LIMIT_BYTES)  # fmt: skip

    stderr = assert_clean_error(done, 1)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: cannot write ")
    assert lines[0].endswith(": File too large")
    assert out.read_bytes() == b"an earlier generator"
    assert leftover_temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_plot_file_too_large(curve_model, tmp_path):
    picture = tmp_path / "picture.png"
    picture.write_bytes(b"an earlier picture")

    done = run_limited("plot", curve_model, "-o", picture, cwd=tmp_path, max_file_size=SIZE_LIMIT_BYTES)

    stderr = assert_clean_error(done, 1)
    assert stderr.strip().splitlines() == [f"Error: cannot write {picture}: File too large"]
    assert picture.read_bytes() == b"an earlier picture"
    assert leftover_temporaries(tmp_path) == []


def test_export_file_too_large(curve_model, tmp_path):
    program = tmp_path / "model.pt2"
    program.write_bytes(b"an earlier program")

    done = run_limited("export", curve_model, "-o", program, cwd=tmp_path, max_file_size=SIZE_LIMIT_BYTES)

    stderr = assert_clean_error(done, 1)
    assert stderr.strip().splitlines() == [f"Error: cannot write {program}: File too large"]
    assert program.read_bytes() == b"an earlier program"
    assert leftover_temporaries(tmp_path) == []


# damaged and misnamed models


def test_damaged_torchscript_rejected(ganpat_process, curve_model, tmp_path):
    damaged = tmp_path / "damaged.pt"
    damage(curve_model, damaged)
    for command in ("generate", "evaluate", "info"):
        done = ganpat_process(command, damaged)
        stderr = assert_clean_error(done, 1)
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert f"cannot load {damaged}: the file is damaged (checksum mismatch in archive/" in stderr


def test_damaged_program_rejected(ganpat_process, program_model, tmp_path):
    damaged = tmp_path / "damaged.pt2"
    damage(program_model, damaged)
    done = ganpat_process("generate", damaged)
    stderr = assert_clean_error(done, 1)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "the file is damaged (checksum mismatch in " in stderr


def test_damaged_member_is_named(curve_model, tmp_path):
    damaged = tmp_path / "damaged.pt"
    damage(curve_model, damaged)
    with zipfile.ZipFile(damaged) as archive:
        member = archive.testzip()
    assert member is not None
    with pytest.raises(GanpatError, match=f"checksum mismatch in {member}"):
        load_generator(damaged)


def test_damaged_checkpoint_rejected(ganpat_cli, curve_model, tmp_path):
    model = tmp_path / "model.pt"
    shutil.copy(curve_model, model)
    damage(checkpoint_path(curve_model), checkpoint_path(model))

    result = ganpat_cli("train", "exponential", "--seed", "1", "--epochs", "64", "--out", model, "--resume",
                        "--quiet", "--device", "cpu")  # fmt: skip

    stderr = assert_clean_error(result, 1)
    assert f"cannot read checkpoint {checkpoint_path(model)}: the file is damaged (checksum mismatch in " in stderr
    assert model.read_bytes() == curve_model.read_bytes()


def test_truncated_program_one_line(ganpat_process, program_model, tmp_path):
    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes(program_model.read_bytes()[:3000])

    done = ganpat_process("generate", truncated)
    stderr = assert_clean_error(done, 1)
    assert len(stderr.strip().splitlines()) == 1, stderr

    verbose = ganpat_process("--verbose", "generate", truncated)
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr


def test_text_program_one_line(ganpat_process, tmp_path):
    text = tmp_path / "notes.pt2"
    text.write_text("not a model\n")
    done = ganpat_process("info", text)
    stderr = assert_clean_error(done, 1)
    assert stderr.strip().splitlines() == [f"Error: cannot load {text}: it is a text file, not a saved generator"]


@pytest.mark.parametrize(
    ("fixture", "name", "hint"),
    [
        ("program_model", "model.pt", "looks like a torch.export program; name it model.pt2"),
        ("curve_model", "model.pt2", "looks like a TorchScript file, not a torch.export program; name it model.pt"),
    ],
)
def test_misnamed_model_gets_hint(ganpat_process, request, tmp_path, fixture, name, hint):
    misnamed = tmp_path / name
    shutil.copy(request.getfixturevalue(fixture), misnamed)
    done = ganpat_process("generate", misnamed)
    stderr = assert_clean_error(done, 1)
    assert hint in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


# pictures of .pt2 models


def test_plot_pt2_default_name(ganpat_cli, program_model, tmp_path):
    model = tmp_path / "exponential.pt2"
    shutil.copy(program_model, model)
    result = ganpat_cli("plot", model, "-n", "200")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "exponential.pt2.png")
    assert (tmp_path / "exponential.pt2.png").exists()
    assert not (tmp_path / "exponential.png").exists()


def test_plot_pt2_named_default_plotter(ganpat_cli, program_model, tmp_path):
    model = tmp_path / "exponential.pt2"
    shutil.copy(program_model, model)
    result = ganpat_cli("plot", model, "-n", "200", "--plotter", "scatter")
    assert result.exit_code == 0, result.output
    # naming the pattern's default plotter gives the default picture name, as for a .pt model
    assert result.stdout.strip() == str(tmp_path / "exponential.pt2.png")


# stop signals


@pytest.mark.parametrize(("number", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_generate_removes_temporary(curve_model, tmp_path, number, status):
    output = tmp_path / "samples.csv"
    output.write_text("old\n")
    process = start_ganpat("generate", curve_model, "-n", "10000000", "-o", output, cwd=tmp_path)
    wait_for_file(tmp_path, ".samples.csv.*.tmp", process)

    _, stderr = stop(process, number)

    assert process.returncode == status, stderr
    assert stderr.strip() == "Interrupted."
    assert leftover_temporaries(tmp_path) == []
    assert output.read_text() == "old\n"


def test_sigterm_during_train_saves_interrupted_run(tmp_path):
    out = tmp_path / "model.pt"
    process = start_ganpat("train", "exponential", "--recipe", "book", "--epochs", "100000", "--patience", "100000",
                           "--out", out, "--quiet", "--device", "cpu", cwd=tmp_path)  # fmt: skip
    # the first periodic checkpoint comes with the first quality check
    wait_for_file(tmp_path, "model.pt.ckpt.partial", process)

    _, stderr = stop(process, signal.SIGTERM)

    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert "Interrupted at epoch" in stderr
    assert load_generator(out).metadata["interrupted"] is True
    assert checkpoint_path(out).exists()
    assert not (tmp_path / "model.pt.ckpt.partial").exists()
    assert leftover_temporaries(tmp_path) == []
    assert json.loads((tmp_path / "model.log.jsonl").read_text().splitlines()[0])["epoch"] >= 1


@pytest.mark.parametrize("content", [b"garbage", b"PK\x03\x04truncated"])
def test_unreadable_checkpoint_one_line(ganpat_cli, curve_model, tmp_path, content):
    """A checkpoint that torch cannot read at all gets one line, not torch's advice about weights_only."""
    model = tmp_path / "model.pt"
    shutil.copy(curve_model, model)
    checkpoint_path(model).write_bytes(content)

    result = ganpat_cli("train", "exponential", "--seed", "1", "--epochs", "64", "--out", model, "--resume",
                        "--quiet", "--device", "cpu")  # fmt: skip

    stderr = assert_clean_error(result, 1)
    assert len(stderr.strip().splitlines()) == 1
    assert f"cannot read checkpoint {checkpoint_path(model)}: it is not a ganpat checkpoint" in stderr
    assert "weights_only" not in stderr
    assert model.read_bytes() == curve_model.read_bytes()
