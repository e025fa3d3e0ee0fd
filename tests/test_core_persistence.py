"""Saved generators: metadata round trip, torch.export files, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
import torch
from conftest import assert_clean_error, leftover_temporaries

import ganpat
from ganpat.file_writes import WriteFailed
from ganpat.persistence import METADATA_FILE, atomic_write, load_generator, quiet_jit


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_info_json_round_trips_metadata(ganpat_cli, curve_model):
    result = ganpat_cli("info", curve_model, "--json")
    assert result.exit_code == 0, result.output
    metadata = json.loads(result.stdout)

    assert metadata["pattern"] == "exponential"
    assert metadata["pattern_params"] == {}
    assert metadata["latent_size"] == 2
    assert metadata["sample_shape"] == [2]
    assert metadata["architecture"] == metadata["recipe"]["architecture"]
    assert metadata["recipe"]["name"] == "default"
    assert metadata["recipe"]["epochs"] == 32
    assert metadata["seed"] == 1
    assert 1 <= metadata["epochs_run"] <= 32
    assert 1 <= metadata["best_epoch"] <= metadata["epochs_run"]
    assert metadata["interrupted"] is False
    assert isinstance(metadata["best_score"], float)
    assert metadata["ganpat_version"] == ganpat.__version__
    assert metadata["torch_version"] == torch.__version__
    assert datetime.fromisoformat(metadata["created"]).tzinfo is not None


def test_metadata_lives_inside_torchscript_file(curve_model):
    extra = {METADATA_FILE: ""}
    with quiet_jit():
        module = torch.jit.load(str(curve_model), map_location="cpu", _extra_files=extra)
    stored = json.loads(extra[METADATA_FILE])

    assert stored == load_generator(curve_model).metadata
    assert isinstance(module, torch.jit.ScriptModule)
    assert not module.training
    assert module(torch.zeros(3, stored["latent_size"])).shape == (3, 2)


def test_onehot_metadata_records_parameter(ganpat_cli, onehot_model):
    metadata = json.loads(ganpat_cli("info", onehot_model, "--json").stdout)
    assert metadata["pattern"] == "onehot-multiples-of-5"
    assert metadata["pattern_params"] == {"n": 5}
    assert metadata["latent_size"] == metadata["recipe"]["arch_options"]["latent_size"]


def test_info_table_names_fields(ganpat_cli, curve_model):
    result = ganpat_cli("info", curve_model)
    assert result.exit_code == 0, result.output
    for field in ("pattern", "exponential", "epochs_run", "torch_version"):
        assert field in result.stdout


def test_export_then_generate_from_pt2(ganpat_cli, curve_model, tmp_path):
    program = tmp_path / "exponential.pt2"
    exported = ganpat_cli("export", curve_model, "-o", program)
    assert exported.exit_code == 0, exported.output
    assert program.exists()
    assert leftover_temporaries(tmp_path) == []

    from_script = ganpat_cli("generate", curve_model, "-n", "300", "--seed", "4")
    from_program = ganpat_cli("generate", program, "-n", "300", "--seed", "4")
    assert from_program.exit_code == 0, from_program.output
    script_rows = read_csv(from_script.stdout)
    program_rows = read_csv(from_program.stdout)
    assert script_rows[0] == program_rows[0] == ["x", "y"]
    assert len(program_rows) == 301
    expected = torch.tensor([[float(v) for v in row] for row in script_rows[1:]])
    actual = torch.tensor([[float(v) for v in row] for row in program_rows[1:]])
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_export_keeps_metadata(ganpat_cli, curve_model, tmp_path):
    program = tmp_path / "exponential.pt2"
    assert ganpat_cli("export", curve_model, "-o", program).exit_code == 0
    original = json.loads(ganpat_cli("info", curve_model, "--json").stdout)
    exported = json.loads(ganpat_cli("info", program, "--json").stdout)

    assert exported["exported_from"] == str(curve_model)
    for key in ("pattern", "latent_size", "architecture", "recipe", "seed", "epochs_run", "created"):
        assert exported[key] == original[key], key


def test_export_onehot_generates_integers(ganpat_cli, onehot_model, tmp_path):
    program = tmp_path / "onehot.pt2"
    assert ganpat_cli("export", onehot_model, "-o", program).exit_code == 0
    from_script = ganpat_cli("generate", onehot_model, "-n", "200", "--seed", "2")
    from_program = ganpat_cli("generate", program, "-n", "200", "--seed", "2")
    assert from_program.exit_code == 0, from_program.output
    assert from_program.stdout == from_script.stdout


def test_export_program_batch_is_dynamic(ganpat_cli, curve_model, tmp_path):
    program = tmp_path / "exponential.pt2"
    assert ganpat_cli("export", curve_model, "-o", program).exit_code == 0
    for count in (1, 4, 5):
        result = ganpat_cli("generate", program, "-n", str(count))
        assert result.exit_code == 0, result.output
        assert len(read_csv(result.stdout)) == count + 1


def test_export_from_pt2_file(ganpat_cli, curve_model, tmp_path):
    first = tmp_path / "first.pt2"
    second = tmp_path / "second.pt2"
    assert ganpat_cli("export", curve_model, "-o", first).exit_code == 0
    result = ganpat_cli("export", first, "-o", second)
    assert result.exit_code == 0, result.output
    assert ganpat_cli("generate", second, "-n", "20").stdout == ganpat_cli("generate", first, "-n", "20").stdout


def test_export_rejects_other_suffix(ganpat_cli, curve_model, tmp_path):
    result = ganpat_cli("export", curve_model, "-o", tmp_path / "model.pt")
    stderr = assert_clean_error(result, 2)
    assert ".pt2" in stderr
    assert not (tmp_path / "model.pt").exists()


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"the old generator")

    def write_half_then_fail(temporary: Path) -> None:
        temporary.write_bytes(b"half of a new gen")
        raise OSError("disk full")

    with pytest.raises(WriteFailed, match="disk full"):
        atomic_write(target, write_half_then_fail)
    assert target.read_bytes() == b"the old generator"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_atomic_write_interrupt_keeps_old_file(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"the old generator")

    def interrupted(temporary: Path) -> None:
        temporary.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted)
    assert target.read_bytes() == b"the old generator"
    assert leftover_temporaries(tmp_path) == []


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_written_files_follow_umask(ganpat_cli, curve_model, tmp_path):
    output = tmp_path / "samples.csv"
    result = ganpat_cli("generate", curve_model, "-n", "5", "-o", output)
    assert result.exit_code == 0, result.output
    assert output.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    assert curve_model.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_atomic_write_keeps_existing_mode(tmp_path):
    target = tmp_path / "shared.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write(target, lambda temporary: temporary.write_text("new\n"))
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640


def test_saved_file_is_plain_zip_archive(curve_model):
    # torch.jit.save writes a zip archive; a reader needs its data.pkl and code folders
    with zipfile.ZipFile(curve_model) as archive:
        names = archive.namelist()
    assert any(name.endswith("/data.pkl") for name in names)
    assert any(name.endswith(f"/extra/{METADATA_FILE}") for name in names)



def test_export_onehot_prints_no_warning(onehot_model, ganpat_process, tmp_path):
    """The one-hot head branches on grad mode, and exporting it must not show torch's branch warnings."""
    exported = ganpat_process("export", onehot_model, "-o", tmp_path / "quiet.pt2")
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == ""
