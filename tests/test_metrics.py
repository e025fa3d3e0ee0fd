"""Quality metrics on inputs with known values."""

from __future__ import annotations

import pytest
import torch

from ganpat import plugins
from ganpat.metrics import INVALID, decode_onehot, onehot_metrics, wasserstein1_to_uniform


@pytest.fixture(scope="module")
def registry():
    return plugins.registry()


def onehot_rows(values: list[int], width: int = 100) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(values), width).float()


def test_w1_of_evenly_spaced_points_is_tiny():
    m = 1000
    u = (torch.arange(m, dtype=torch.float64) + 0.5) / m
    assert wasserstein1_to_uniform(u) == pytest.approx(0.25 / m, rel=1e-6)


def test_w1_of_one_point_mass():
    assert wasserstein1_to_uniform(torch.full((50,), 0.5)) == pytest.approx(0.25)
    assert wasserstein1_to_uniform(torch.zeros(10)) == pytest.approx(0.5)


def test_w1_of_uniform_draw_matches_sampling_noise():
    u = torch.rand(10_000, generator=torch.Generator().manual_seed(3))
    assert wasserstein1_to_uniform(u) < 0.01


def test_decode_marks_zero_rows_and_ties_invalid():
    rows = torch.zeros(4, 100)
    rows[1, 5] = 1.0
    rows[2, 10] = rows[2, 20] = 0.7
    rows[3, 0] = 0.9
    decoded = decode_onehot(rows).tolist()
    assert decoded == [INVALID, 5, INVALID, 0]


def test_decode_marks_non_finite_maxima_invalid():
    rows = torch.zeros(5, 100)
    rows[0, 3], rows[0, 4] = float("nan"), 1.0
    rows[1] = float("-inf")
    rows[2, 7] = float("inf")
    rows[3, 8], rows[3, 9] = 2.0, float("-inf")
    rows[4, 99] = 0.5
    decoded = decode_onehot(rows).tolist()
    assert decoded == [INVALID, INVALID, INVALID, 8, 99]


def test_decode_matches_sorted_reference():
    """Rounded normal rows: about one in nine has a tie at the top."""
    torch.manual_seed(0)
    rows = torch.randn(2000, 100).round(decimals=1)
    ordered = rows.sort(dim=1, descending=True).values
    clear = ordered[:, 0] > ordered[:, 1]
    expected = torch.where(clear, rows.argmax(dim=1), INVALID)
    assert 0 < int((~clear).sum()) < 1000
    assert torch.equal(decode_onehot(rows), expected)


def test_onehot_metrics_perfect_sample():
    values = list(range(0, 100, 5)) * 500
    metrics = onehot_metrics(onehot_rows(values), list(range(0, 100, 5)))
    assert metrics["valid"] == 1.0
    assert metrics["modes_covered"] == 20
    assert metrics["tv_uniform"] == pytest.approx(0.0)


def test_onehot_metrics_one_mode_only():
    metrics = onehot_metrics(onehot_rows([35] * 1000), list(range(0, 100, 5)))
    assert metrics["modes_covered"] == 1
    assert metrics["tv_uniform"] == pytest.approx(0.95)


def test_onehot_metrics_half_the_modes():
    values = list(range(0, 50, 5)) * 100
    metrics = onehot_metrics(onehot_rows(values), list(range(0, 100, 5)))
    assert metrics["modes_covered"] == 10
    assert metrics["tv_uniform"] == pytest.approx(0.5)


def test_onehot_metrics_zero_rows_are_invalid():
    rows = torch.cat([onehot_rows(list(range(0, 100, 5)) * 10), torch.zeros(200, 100)])
    metrics = onehot_metrics(rows, list(range(0, 100, 5)))
    assert metrics["valid"] == pytest.approx(200 / 400)
    assert metrics["modes_covered"] == 20


def test_onehot_metrics_non_multiples_are_invalid():
    metrics = onehot_metrics(onehot_rows([3, 7, 5, 10]), list(range(0, 100, 5)))
    assert metrics["valid"] == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["exponential", "inverted-u", "sine"])
def test_curve_real_samples_score_perfect(registry, name):
    pattern = registry.pattern(name)
    samples = pattern.sample(10_000, torch.Generator().manual_seed(1))
    metrics = pattern.metrics(samples)
    assert metrics["in_range"] == 1.0
    assert metrics["on_curve"] == 1.0
    assert metrics["x_coverage_w1"] < 0.01
    assert pattern.target_met(metrics)


@pytest.mark.parametrize("name", ["exponential", "inverted-u", "sine"])
def test_curve_points_off_the_curve(registry, name):
    pattern = registry.pattern(name)
    samples = pattern.sample(1000, torch.Generator().manual_seed(1))
    samples[:, 1] += 3 * pattern.tolerance
    metrics = pattern.metrics(samples)
    assert metrics["on_curve"] == 0.0
    assert not pattern.target_met(metrics)


def test_curve_points_out_of_range(registry):
    pattern = registry.pattern("sine")
    samples = pattern.sample(1000, torch.Generator().manual_seed(1))
    samples[:500, 0] = 7.0
    metrics = pattern.metrics(samples)
    assert metrics["in_range"] == pytest.approx(0.5)


def test_curve_collapsed_x_has_poor_coverage(registry):
    pattern = registry.pattern("inverted-u")
    x = torch.zeros(1000)
    samples = torch.stack([x, 10 - x**2], dim=1)
    metrics = pattern.metrics(samples)
    assert metrics["on_curve"] == 1.0
    assert metrics["x_coverage_w1"] == pytest.approx(0.25)
    assert not pattern.target_met(metrics)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10, 25, 99])
def test_onehot_real_samples_meet_target(registry, n):
    pattern = registry.pattern(f"onehot-multiples-of-{n}")
    samples = pattern.sample(10_000, torch.Generator().manual_seed(2))
    metrics = pattern.metrics(samples)
    assert metrics["valid"] == 1.0
    assert metrics["modes_covered"] == len(range(0, 100, n))
    assert pattern.target_met(metrics)
