"""`ganpat plot` and `ganpat list-plotters` on real trained generators and training logs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganpat import hookimpl, plugins
from ganpat.builtin.plotters import PLOTTERS
from ganpat.persistence import quiet_jit
from ganpat.plotter import DPI, Plotter, SampleView
from conftest import assert_clean_error, invoke, leftover_temporaries

PLOTTER_SIZES = {plotter.name: plotter.figure_size for plotter in PLOTTERS}


def pixels(path: Path) -> np.ndarray:
    """Return a picture's RGB pixels as an (height, width, 3) integer array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def expected_size(plotter_name: str) -> tuple[int, int]:
    width, height = PLOTTER_SIZES[plotter_name]
    return round(width * DPI), round(height * DPI)


def colour_count(rgb: np.ndarray, colour: tuple[int, int, int], tolerance: int = 30) -> int:
    """Count the pixels within ``tolerance`` of ``colour`` in every channel."""
    return int((np.abs(rgb - np.array(colour)) <= tolerance).all(axis=2).sum())


def assert_picture(path: Path, plotter_name: str) -> np.ndarray:
    """Assert that ``path`` is a PNG of the plotter's size that is not blank; return its pixels."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == expected_size(plotter_name)
    rgb = pixels(path)
    assert rgb.std() > 20, f"{path} is nearly blank (pixel standard deviation {rgb.std():.1f})"
    return rgb


def plain_onehot_generator(path: Path) -> Path:
    """Save a plain TorchScript generator whose output is its 100-wide latent vector.

    Its argmax is uniform over 0..99, so most values are invalid for a multiples pattern.
    """
    module = nn.Linear(100, 100, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.eye(100))
    with quiet_jit():
        torch.jit.script(module).save(str(path))
    return path


# the built-in plotters


def test_scatter_draws_real_and_generated(curve_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "missing" / "folder" / "scatter.png"
    result = invoke("plot", curve_model, "-o", output)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(output)

    rgb = assert_picture(output, "scatter")
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # real samples: faint red dots, deeper red where they overlap
    reddish = (red > 200) & (red - green > 40) & (np.abs(green - blue) < 25)
    # generated samples: solid green stars
    greenish = (green > 90) & (red < 60) & (blue < 60)
    assert reddish.sum() > 300, f"only {reddish.sum()} red pixels"
    assert greenish.sum() > 300, f"only {greenish.sum()} green pixels"
    assert leftover_temporaries(output.parent) == []


def test_scatter_default_output_next_to_model(curve_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "exponential.pt"
    model.write_bytes(curve_model.read_bytes())
    result = invoke("plot", model)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "exponential.png")
    assert_picture(tmp_path / "exponential.png", "scatter")


def test_histogram_colours_valid_and_invalid(tmp_path: Path) -> None:
    model = plain_onehot_generator(tmp_path / "uniform.pt")
    output = tmp_path / "histogram.png"
    result = invoke("plot", model, "--pattern", "onehot-multiples-of-5", "-o", output)
    assert result.exit_code == 0, result.output

    rgb = assert_picture(output, "histogram")
    # 20 valid bars and 80 invalid bars of about the same height; a legend patch is about 150 pixels
    assert colour_count(rgb, (31, 119, 180)) > 1000
    assert colour_count(rgb, (255, 127, 14)) > 4000


def test_histogram_on_trained_generator(onehot_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "histogram.png"
    result = invoke("plot", onehot_model, "-o", output, "-n", "5000", "--seed", "3")
    assert result.exit_code == 0, result.output
    rgb = assert_picture(output, "histogram")
    assert colour_count(rgb, (31, 119, 180)) > 1000


def test_losses_from_model_and_log(onehot_model: Path, tmp_path: Path) -> None:
    from_model = tmp_path / "from-model.png"
    result = invoke("plot", onehot_model, "--plotter", "losses", "-o", from_model)
    assert result.exit_code == 0, result.output
    log = onehot_model.with_name(json.loads(invoke("info", onehot_model, "--json").stdout)["training_log"])
    from_log = tmp_path / "from-log.png"
    result = invoke("plot", "--log", log, "-o", from_log)
    assert result.exit_code == 0, result.output

    for path in (from_model, from_log):
        rgb = assert_picture(path, "losses")
        # discriminator loss, generator loss and quality score lines
        for colour in ((31, 119, 180), (255, 127, 14), (44, 160, 44)):
            assert colour_count(rgb, colour, tolerance=40) > 100, colour
    assert np.array_equal(pixels(from_model), pixels(from_log))


def test_losses_default_output_name(onehot_model: Path, tmp_path: Path) -> None:
    log = tmp_path / "onehot-multiples-of-5.log.jsonl"
    log.write_text(onehot_model.with_name("onehot-multiples-of-5.log.jsonl").read_text())
    result = invoke("plot", "--log", log)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "onehot-multiples-of-5.losses.png")


@pytest.mark.parametrize(("suffix", "head"), [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_format_from_suffix(curve_model: Path, tmp_path: Path, suffix: str, head: bytes) -> None:
    output = tmp_path / f"picture{suffix}"
    result = invoke("plot", curve_model, "-o", output, "-n", "200")
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(head)


def test_plain_torchscript_needs_pattern(tmp_path: Path) -> None:
    model = plain_onehot_generator(tmp_path / "uniform.pt")
    stderr = assert_clean_error(invoke("plot", model), 2)
    assert "--pattern" in stderr
    stderr = assert_clean_error(invoke("plot", model, "--pattern", "onehot-multiples-of-5", "--plotter", "losses"), 2)
    assert "no training log" in stderr
    assert "--log" in stderr


# errors


def test_unknown_plotter_lists_names(curve_model: Path) -> None:
    stderr = assert_clean_error(invoke("plot", curve_model, "--plotter", "violin"), 2)
    assert "'violin'" in stderr
    for name in ("histogram", "losses", "scatter"):
        assert name in stderr


def test_scatter_rejects_onehot_pattern(onehot_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "scatter.png"
    stderr = assert_clean_error(invoke("plot", onehot_model, "--plotter", "scatter", "-o", output), 2)
    assert "2-D" in stderr
    assert "onehot-multiples-of-5" in stderr
    assert "--plotter histogram" in stderr
    assert not output.exists()


def test_histogram_rejects_curve_pattern(curve_model: Path) -> None:
    stderr = assert_clean_error(invoke("plot", curve_model, "--plotter", "histogram"), 2)
    assert "--plotter scatter" in stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "give a MODEL"),
        (("--log", "missing.log.jsonl"), "does not exist"),
        (("--log", "missing.log.jsonl", "--plotter", "scatter"), "needs a MODEL"),
        (("-o", "picture.jpg"), "'.jpg' is not supported"),
    ],
)
def test_plot_usage_errors(curve_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           arguments: tuple[str, ...], message: str) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    if arguments[:1] == ("-o",):
        arguments = (str(curve_model), *arguments)
    if arguments[2:3] == ("--plotter",):
        Path("missing.log.jsonl").write_text((curve_model.with_name("exponential.log.jsonl")).read_text())
    stderr = assert_clean_error(invoke("plot", *arguments), 2)
    assert message in stderr


def test_plot_model_and_log_together(curve_model: Path) -> None:
    log = curve_model.with_name("exponential.log.jsonl")
    stderr = assert_clean_error(invoke("plot", curve_model, "--log", log), 2)
    assert "not both" in stderr


def test_plot_output_is_folder(curve_model: Path, tmp_path: Path) -> None:
    stderr = assert_clean_error(invoke("plot", curve_model, "-o", tmp_path), 2)
    assert "is a folder" in stderr


def test_plot_invalid_log(tmp_path: Path) -> None:
    log = tmp_path / "broken.log.jsonl"
    log.write_text('{"epoch": 5, "d_loss": 1.2, "g_loss": 0.7, "score": 0.1}\nnot json\n')
    stderr = assert_clean_error(invoke("plot", "--log", log), 1)
    assert "line 2 is not valid JSON" in stderr
    log.write_text('{"epoch": 5, "d_loss": 1.2}\n')
    stderr = assert_clean_error(invoke("plot", "--log", log), 1)
    assert "no 'g_loss' field" in stderr
    log.write_text("")
    stderr = assert_clean_error(invoke("plot", "--log", log), 1)
    assert "no quality checks" in stderr


def test_show_without_display_fails_cleanly(curve_model: Path, ganpat_process, tmp_path: Path) -> None:
    output = tmp_path / "shown.png"
    done = ganpat_process("plot", curve_model, "-o", output, "-n", "200", "--show")
    stderr = assert_clean_error(done, 1)
    assert "--show needs a display" in stderr
    assert done.stdout.strip() == str(output)
    assert output.exists()


# the plotter contract, through a plugin


class MeanPlotter(Plotter):
    """A third-party plotter: a bar of the mean of each decoded column."""

    name = "column-means"
    description = "mean of each decoded column"
    figure_size = (4.0, 3.0)
    default_samples = 300

    def unsupported_reason(self, pattern: object) -> str | None:
        columns = getattr(pattern, "columns", ())
        return None if len(columns) == 2 else "plotter column-means needs two columns"

    def draw(self, figure: object, data: object) -> None:
        assert isinstance(data, SampleView)
        assert data.generated.shape == (300, 2)
        assert data.real.shape == (300, 2)
        axes = figure.add_subplot()  # type: ignore[attr-defined]
        axes.bar([0, 1], data.generated.mean(axis=0), color="black")


def test_plugin_plotter_draws(curve_model: Path, onehot_model: Path, tmp_path: Path) -> None:
    plugin = SimpleNamespace(register_plotters=hookimpl(lambda register: register(MeanPlotter())))
    plugins.use([("test-plotter", plugin)])
    try:
        listed = json.loads(invoke("list-plotters", "--json").stdout)
        assert {"name": "column-means", "description": "mean of each decoded column", "source": "samples",
                "plugin": "test-plotter"} in listed  # fmt: skip

        output = tmp_path / "means.png"
        result = invoke("plot", curve_model, "--plotter", "column-means", "-o", output)
        assert result.exit_code == 0, result.output
        with Image.open(output) as image:
            assert image.size == (400, 300)

        stderr = assert_clean_error(invoke("plot", onehot_model, "--plotter", "column-means"), 2)
        assert "needs two columns" in stderr
    finally:
        plugins.reset()


def test_list_plotters_json() -> None:
    result = invoke("list-plotters", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["scatter"]["source"] == "samples"
    assert rows["histogram"]["source"] == "samples"
    assert rows["losses"]["source"] == "training-log"
    for name in ("scatter", "histogram", "losses"):
        assert rows[name]["plugin"] == "ganpat.builtin.plotters"
