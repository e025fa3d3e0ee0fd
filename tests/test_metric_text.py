"""How metrics read in evaluate's table, the training summary and the progress bar."""

from __future__ import annotations

from ganpat.metric_text import format_metrics, metric_text


def test_mode_counts_read_as_fractions():
    metrics = {"high_quality": 0.9512, "modes_captured": 8.0, "modes_total": 8.0, "tv_modes": 0.0213}
    assert metric_text("modes_captured", metrics) == "8/8"
    assert metric_text("modes_total", metrics) is None
    assert metric_text("high_quality", metrics, digits=4) == "0.9512"
    assert format_metrics(metrics) == "high_quality 0.951 modes_captured 8/8 tv_modes 0.021"


def test_counts_without_total_stay_decimal():
    metrics = {"modes_captured": 8.0, "tv_modes": 0.5}
    assert metric_text("modes_captured", metrics) == "8.000"


def test_fractional_mode_metric_stays_decimal():
    metrics = {"modes_weight": 0.25, "modes_total": 8.0}
    assert metric_text("modes_weight", metrics) == "0.250"
