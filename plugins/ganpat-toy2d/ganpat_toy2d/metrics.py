"""Mode-collapse metrics shared by the mixture and curve patterns; this module imports torch.

The definitions follow the 2-D benchmarks of the Unrolled GAN, VEEGAN and PacGAN
papers. A sample is high quality when it lies within 3 standard deviations of its
nearest mode (a Gaussian centre, or a segment of a curve).
"""

from __future__ import annotations

import torch

# share of a centre's high-quality samples it must receive, relative to a perfect generator, to count as captured
CAPTURE_FRACTION = 0.1
# distances are computed against this many reference points at a time, to bound memory
CHUNK = 4096


def nearest_points(samples: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the distance from each sample to its nearest reference point, and that point's index."""
    samples = samples.detach().double().cpu()
    best = torch.full((len(samples),), float("inf"), dtype=torch.float64)
    index = torch.zeros(len(samples), dtype=torch.long)
    for start in range(0, len(points), CHUNK):
        block = points[start : start + CHUNK].double()
        distance, where = torch.cdist(samples, block).min(dim=1)
        closer = distance < best
        best = torch.where(closer, distance, best)
        index = torch.where(closer, where + start, index)
    return best, index


def mode_metrics(
    mode: torch.Tensor,
    high_quality: torch.Tensor,
    expected_share: torch.Tensor,
    perfect_high_quality: float,
) -> dict[str, float]:
    """Return high_quality, modes_captured, modes_total and tv_modes.

    ``mode`` is each sample's nearest mode, ``high_quality`` marks samples within 3
    standard deviations of it, ``expected_share`` is each mode's share of a perfect
    generator's samples, and ``perfect_high_quality`` is the share of a perfect
    generator's samples that are high quality.
    """
    n = len(mode)
    k = len(expected_share)
    if n == 0:
        return {"high_quality": 0.0, "modes_captured": 0.0, "modes_total": float(k), "tv_modes": 1.0}
    counts = torch.bincount(mode[high_quality], minlength=k).double()
    needed = CAPTURE_FRACTION * n * perfect_high_quality * expected_share.double()
    captured = int((counts >= needed).sum())
    total = float(counts.sum())
    tv = float(0.5 * (counts / total - expected_share).abs().sum()) if total > 0 else 1.0
    return {
        "high_quality": float(high_quality.double().mean()),
        "modes_captured": float(captured),
        "modes_total": float(k),
        "tv_modes": tv,
    }
