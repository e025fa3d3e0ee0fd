"""ganpat-toy2d: the contract, the data against its definition, the metrics on known inputs, and the CLI end to end."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganpat import plugins
from ganpat.testing import assert_pattern_contract
from ganpat_toy2d.curves import REFERENCE_POINTS, moon_points, swiss_roll_points
from ganpat_toy2d.mixtures import PERFECT_HIGH_QUALITY_2D

torch.set_num_threads(1)

NAMES = ["ring-8", "grid-25", "two-moons", "swiss-roll"]


@pytest.fixture(scope="module")
def registry():
    return plugins.registry()


@pytest.mark.parametrize("name", NAMES)
def test_pattern_meets_contract(registry, name):
    assert_pattern_contract(registry.pattern(name))


def test_plugin_registered_through_entry_point(registry):
    for name in NAMES:
        assert registry.patterns[name].plugin == "ganpat-toy2d"
        assert registry.patterns[name].item.default_plotter == "density"
    assert registry.plotters["density"].plugin == "ganpat-toy2d"


def test_ring_centres_on_circle(registry):
    pattern = registry.pattern("ring-8")
    centres = torch.tensor(pattern.centres)

    assert len(centres) == 8
    torch.testing.assert_close(centres.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(centres[:, 1], centres[:, 0]).remainder(2 * math.pi).sort().values
    torch.testing.assert_close(angles, torch.arange(8) * (2 * math.pi / 8))
    assert pattern.std == 0.02


def test_grid_centres_on_grid(registry):
    pattern = registry.pattern("grid-25")
    centres = set(pattern.centres)

    assert centres == {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert pattern.std == 0.05


@pytest.mark.parametrize("name", ["ring-8", "grid-25"])
def test_mixture_samples_match_definition(registry, name):
    pattern = registry.pattern(name)
    samples = pattern.sample(40_000, torch.Generator().manual_seed(7))
    centres = torch.tensor(pattern.centres)
    nearest = torch.cdist(samples, centres).argmin(dim=1)
    offsets = samples - centres[nearest]
    shares = torch.bincount(nearest, minlength=len(centres)) / len(samples)

    assert float(offsets.std()) == pytest.approx(pattern.std, rel=0.03)
    assert float(offsets.mean(dim=0).abs().max()) < 0.1 * pattern.std
    assert float((shares - 1 / len(centres)).abs().max()) < 0.25 / len(centres)


def test_mixture_metrics_at_centres(registry):
    pattern = registry.pattern("ring-8")
    centres = torch.tensor(pattern.centres).repeat(100, 1)

    metrics = pattern.metrics(centres)

    assert metrics == {"high_quality": 1.0, "modes_captured": 8.0, "modes_total": 8.0, "tv_modes": 0.0}
    assert pattern.target_met(metrics)


def test_mixture_metrics_collapsed_to_one_mode(registry):
    pattern = registry.pattern("ring-8")
    collapsed = torch.tensor([pattern.centres[3]]).repeat(800, 1)

    metrics = pattern.metrics(collapsed)

    assert metrics["high_quality"] == 1.0
    assert metrics["modes_captured"] == 1.0
    assert metrics["tv_modes"] == pytest.approx(7 / 8)
    assert not pattern.target_met(metrics)


def test_mixture_metrics_between_modes(registry):
    pattern = registry.pattern("ring-8")
    halfway = torch.tensor(pattern.centres[:2]).mean(dim=0, keepdim=True).repeat(50, 1)
    just_inside = torch.tensor([[2.0 + 2.9 * 0.02, 0.0]])
    just_outside = torch.tensor([[2.0 + 3.1 * 0.02, 0.0]])

    assert pattern.metrics(halfway)["high_quality"] == 0.0
    assert pattern.metrics(halfway)["tv_modes"] == 1.0
    assert pattern.metrics(just_inside)["high_quality"] == 1.0
    assert pattern.metrics(just_outside)["high_quality"] == 0.0


def test_mode_counts_need_tenth_of_perfect_share(registry):
    pattern = registry.pattern("ring-8")
    n = 8000
    # a perfect generator gives each centre n / 8 samples, of which PERFECT_HIGH_QUALITY_2D are high quality
    needed = math.ceil(0.1 * n / 8 * PERFECT_HIGH_QUALITY_2D)
    centres = torch.tensor(pattern.centres)
    far_away = torch.full((1, 2), 100.0)

    def samples_with(count_at_centre_7: int) -> torch.Tensor:
        parts = [centres[:7].repeat_interleave(1000, dim=0), centres[7:].repeat(count_at_centre_7, 1)]
        filler = far_away.repeat(n - 7000 - count_at_centre_7, 1)
        return torch.cat(parts + [filler])

    assert pattern.metrics(samples_with(needed))["modes_captured"] == 8.0
    assert pattern.metrics(samples_with(needed - 1))["modes_captured"] == 7.0


@pytest.mark.parametrize(("name", "points", "pieces"), [("two-moons", moon_points, 2), ("swiss-roll", swiss_roll_points, 1)])
def test_curve_metrics_on_and_off_curve(registry, name, points, pieces):
    pattern = registry.pattern(name)
    t = (torch.arange(1600, dtype=torch.float64) + 0.5) / 1600
    on_curve = torch.cat([points(piece, t) for piece in range(pieces)])
    # move each point 4 standard deviations along the curve's normal
    tangent = torch.cat([points(piece, t + 1e-4) - points(piece, t - 1e-4) for piece in range(pieces)])
    normal = torch.stack([-tangent[:, 1], tangent[:, 0]], dim=1)
    off_curve = on_curve + 4 * pattern.std * normal / normal.norm(dim=1, keepdim=True)

    exact = pattern.metrics(on_curve)
    shifted = pattern.metrics(off_curve)

    assert exact["high_quality"] == 1.0
    assert exact["modes_captured"] == exact["modes_total"] == 16.0
    assert exact["tv_modes"] < 1e-9
    assert shifted["high_quality"] == 0.0


def test_curve_metrics_half_curve(registry):
    pattern = registry.pattern("swiss-roll")
    t = torch.rand(4000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) / 2

    metrics = pattern.metrics(swiss_roll_points(0, t))

    assert metrics["high_quality"] == 1.0
    assert metrics["modes_captured"] == 8.0
    assert metrics["tv_modes"] == pytest.approx(0.5, abs=0.01)


def test_curve_reference_is_fine_enough(registry):
    # the distance to the curve is measured to the nearest of REFERENCE_POINTS points per piece,
    # which overstates it by at most half the spacing of those points
    for name, points in (("two-moons", moon_points), ("swiss-roll", swiss_roll_points)):
        t = torch.arange(REFERENCE_POINTS + 1, dtype=torch.float64) / REFERENCE_POINTS
        spacing = (points(0, t[1:]) - points(0, t[:-1])).norm(dim=1).max()
        assert 0.5 * float(spacing) < 0.1 * registry.pattern(name).std


def test_density_plotter_rejects_onehot(registry):
    plotter = registry.plotter("density")

    assert plotter.unsupported_reason(registry.pattern("ring-8")) is None
    assert "onehot-multiples-of-5" in plotter.unsupported_reason(registry.pattern("onehot-multiples-of-5"))


def ganpat(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("ganpat")
    command = [str(executable) if executable.exists() else shutil.which("ganpat") or "ganpat", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", COLUMNS="200")
    env.pop("GANPAT_LOAD_PLUGINS", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_train_evaluate_plot_from_cli(tmp_path):
    train = ganpat("train", "ring-8", "--epochs", "1", "--quiet", "--device", "cpu", cwd=tmp_path)
    evaluate = ganpat("evaluate", "files/ring-8.pt", "--json", "-n", "2000", cwd=tmp_path)
    plot = ganpat("plot", "files/ring-8.pt", cwd=tmp_path)

    assert train.returncode == 0, train.stderr
    assert "modes_captured" in train.stdout
    assert evaluate.returncode == 0, evaluate.stderr
    report = json.loads(evaluate.stdout)
    assert report["pattern"] == "ring-8"
    assert set(report["metrics"]) == {"high_quality", "modes_captured", "modes_total", "tv_modes"}
    assert report["target"] == ["modes_captured >= 8", "high_quality >= 0.95"]
    assert plot.returncode == 0, plot.stderr
    picture = tmp_path / plot.stdout.strip()
    assert picture.name == "ring-8.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
