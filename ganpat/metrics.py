"""Quality metrics for generated samples: one definition used by training, evaluate and plots."""

from __future__ import annotations

from typing import Callable

import torch

INVALID = -1


def wasserstein1_to_uniform(u: torch.Tensor) -> float:
    """Return the exact W1 distance between samples ``u`` in [0, 1] and U(0, 1).

    W1 is the integral of |Q(p) - p| over p, where the empirical quantile function
    Q is the i-th smallest sample on ((i - 1)/m, i/m].
    """
    m = u.numel()
    if m == 0:
        return 1.0
    c = torch.sort(u.double().flatten()).values
    i = torch.arange(m, dtype=torch.float64)
    left, right = i / m, (i + 1) / m
    below = (right - left) * ((left + right) / 2 - c)  # c <= left
    above = (right - left) * (c - (left + right) / 2)  # c >= right
    inside = ((c - left) ** 2 + (right - c) ** 2) / 2
    piece = torch.where(c <= left, below, torch.where(c >= right, above, inside))
    return float(piece.sum())


def curve_metrics(
    samples: torch.Tensor,
    curve: Callable[[torch.Tensor], torch.Tensor],
    domain: tuple[float, float],
    tolerance: float,
) -> dict[str, float]:
    """Return in_range, on_curve and x_coverage_w1 for 2-D samples of ``y = curve(x)``."""
    samples = samples.detach().double().cpu()
    x, y = samples[:, 0], samples[:, 1]
    low, high = domain
    finite = torch.isfinite(x) & torch.isfinite(y)
    inside = finite & (x >= low) & (x < high)
    count = int(inside.sum())
    in_range = count / max(len(samples), 1)
    if count == 0:
        return {"in_range": in_range, "on_curve": 0.0, "x_coverage_w1": 1.0}
    x_in, y_in = x[inside], y[inside]
    on_curve = float(((y_in - curve(x_in)).abs() <= tolerance).double().mean())
    coverage = wasserstein1_to_uniform((x_in - low) / (high - low))
    return {"in_range": in_range, "on_curve": on_curve, "x_coverage_w1": coverage}


def decode_onehot(samples: torch.Tensor) -> torch.Tensor:
    """Return each row's argmax, or INVALID where the row has no single clear maximum."""
    samples = samples.detach()
    # The largest value with its position, then the largest of the rest, took half the time of topk(k=2)
    # and argmax on 65,536 rows of 100 (torch 2.13.0+cpu, one thread). max treats a NaN as the row's maximum.
    best, values = samples.max(dim=1)
    runner_up = samples.scatter(1, values.unsqueeze(1), float("-inf")).amax(dim=1)
    clear = (best > runner_up) & torch.isfinite(best)
    return torch.where(clear, values, torch.full_like(values, INVALID))


def onehot_metrics(samples: torch.Tensor, valid_values: list[int]) -> dict[str, float]:
    """Return valid, modes_covered, modes_total and tv_uniform for one-hot integer samples."""
    decoded = decode_onehot(samples).cpu()
    n = len(decoded)
    k = len(valid_values)
    counts = torch.bincount(decoded[decoded >= 0], minlength=samples.shape[1]).double()
    valid_counts = counts[torch.tensor(valid_values)]
    valid_total = float(valid_counts.sum())
    modes = int((valid_counts >= 0.1 * n / k).sum()) if n else 0
    if valid_total > 0:
        tv = float(0.5 * (valid_counts / valid_total - 1.0 / k).abs().sum())
    else:
        tv = 1.0
    return {
        "valid": valid_total / n if n else 0.0,
        "modes_covered": float(modes),
        "modes_total": float(k),
        "tv_uniform": tv,
    }
