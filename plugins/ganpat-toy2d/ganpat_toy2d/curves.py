"""Noisy 2-D curves: two-moons and swiss-roll.

A sample is a point at a uniform parameter ``t`` on the curve plus isotropic
Gaussian noise. The metrics treat equal-width ranges of ``t`` as the modes, so
``modes_captured`` measures how much of the curve a generator covers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Mapping

from ganpat.pattern import Condition, Pattern
from ganpat.recipe import Recipe

if TYPE_CHECKING:
    import torch

# P(|noise across the curve| <= 3 sigma): the distance to a smooth curve is close to the normal component
PERFECT_HIGH_QUALITY_CURVE = math.erf(3 / math.sqrt(2))
# points per curve piece used to measure the distance to the curve
REFERENCE_POINTS = 4000


class NoisyCurvePattern(Pattern):
    """Points on one or more parametric curve pieces plus Gaussian noise.

    ``points(piece, t)`` maps a tensor of parameters in [0, 1) to points on curve
    piece ``piece``. Each piece gets an equal share of the samples and is split
    into ``segments`` modes.
    """

    columns = ("x", "y")
    sample_shape = (2,)
    training_set_size = None
    default_plotter = "density"

    def __init__(
        self,
        name: str,
        description: str,
        points: Callable[[int, torch.Tensor], torch.Tensor],
        pieces: int,
        segments: int,
        std: float,
        limits: tuple[tuple[float, float], tuple[float, float]],
        recipes: Mapping[str, Recipe],
    ) -> None:
        self.name = name
        self.description = description
        self.points = points
        self.pieces = pieces
        self.segments = segments
        self.std = std
        self.limits = limits
        self.recipes = recipes
        self.target = (
            Condition("modes_captured", minimum=float(pieces * segments)),
            Condition("high_quality", minimum=0.95),
            Condition("tv_modes", maximum=0.1),
        )

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        import torch

        piece = torch.randint(self.pieces, (n,), generator=generator)
        t = torch.rand(n, generator=generator)
        clean = torch.zeros(n, 2)
        for index in range(self.pieces):
            chosen = piece == index
            clean[chosen] = self.points(index, t[chosen]).float()
        return clean + torch.randn(n, 2, generator=generator) * self.std

    def metrics(self, samples: torch.Tensor) -> dict[str, float]:
        import torch

        from ganpat_toy2d.metrics import mode_metrics, nearest_points

        t = (torch.arange(REFERENCE_POINTS, dtype=torch.float64) + 0.5) / REFERENCE_POINTS
        reference = torch.cat([self.points(index, t) for index in range(self.pieces)])
        distance, nearest = nearest_points(samples, reference)
        piece = nearest // REFERENCE_POINTS
        segment = (nearest % REFERENCE_POINTS) * self.segments // REFERENCE_POINTS
        modes = self.pieces * self.segments
        share = torch.full((modes,), 1.0 / modes, dtype=torch.float64)
        return mode_metrics(piece * self.segments + segment, distance <= 3 * self.std, share, PERFECT_HIGH_QUALITY_CURVE)

    def score(self, metrics: Mapping[str, float]) -> float:
        captured = metrics["modes_captured"] / metrics["modes_total"]
        return metrics["high_quality"] * captured * (1.0 - metrics["tv_modes"])

    def plot_limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return self.limits


def moon_points(piece: int, t: torch.Tensor) -> torch.Tensor:
    """Return points on the upper moon (piece 0) or the lower moon (piece 1), centred on the origin."""
    import torch

    angle = math.pi * t
    if piece == 0:
        return torch.stack([angle.cos() - 0.5, angle.sin() - 0.25], dim=1)
    return torch.stack([0.5 - angle.cos(), 0.25 - angle.sin()], dim=1)


# the swiss roll's angle runs over [1.5 pi, 4.5 pi], and the radius equals the angle / SWISS_ROLL_SCALE
SWISS_ROLL_START = 1.5 * math.pi
SWISS_ROLL_END = 4.5 * math.pi
SWISS_ROLL_SCALE = 5.0


def swiss_roll_points(piece: int, t: torch.Tensor) -> torch.Tensor:
    """Return points on the spiral (r cos r, r sin r) / SWISS_ROLL_SCALE."""
    import torch

    angle = SWISS_ROLL_START + (SWISS_ROLL_END - SWISS_ROLL_START) * t
    return torch.stack([angle * angle.cos(), angle * angle.sin()], dim=1) / SWISS_ROLL_SCALE
