"""Metric values as text, the same in evaluate's table, the training summary, the progress bar and plots."""

from __future__ import annotations


def metric_text(name: str, metrics: dict[str, float], digits: int = 3) -> str | None:
    """Return one metric's value as text, or None for modes_total, which is shown inside each mode count.

    A count of modes (modes_covered, or a plugin's modes_captured) reads as ``20/20`` next to modes_total.
    """
    value = metrics[name]
    if "modes_total" in metrics:
        if name == "modes_total":
            return None
        if name.startswith("modes_") and float(value).is_integer():
            return f"{int(value)}/{int(metrics['modes_total'])}"
    return f"{value:.{digits}f}"


def format_metrics(metrics: dict[str, float], digits: int = 3) -> str:
    """Format metrics compactly, such as ``valid 1.000 modes_covered 20/20 tv_uniform 0.021``."""
    parts = []
    for name in metrics:
        text = metric_text(name, metrics, digits)
        if text is not None:
            parts.append(f"{name} {text}")
    return " ".join(parts)
