"""Mixtures of isotropic 2-D Gaussians with equal weights: ring-8 and grid-25."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

from ganpat.pattern import Condition, Pattern
from ganpat.recipe import Recipe

if TYPE_CHECKING:
    import torch

# P(|x - centre| <= 3 sigma) for a 2-D isotropic Gaussian: 1 - exp(-9 / 2)
PERFECT_HIGH_QUALITY_2D = 1.0 - math.exp(-4.5)


class GaussianMixturePattern(Pattern):
    """Samples from an equal-weight mixture of 2-D Gaussians with one standard deviation."""

    columns = ("x", "y")
    sample_shape = (2,)
    training_set_size = None
    default_plotter = "density"

    def __init__(
        self,
        name: str,
        description: str,
        centres: Sequence[tuple[float, float]],
        std: float,
        min_high_quality: float,
        recipes: Mapping[str, Recipe],
    ) -> None:
        self.name = name
        self.description = description
        self.centres = tuple(centres)
        self.std = std
        self.recipes = recipes
        self.target = (
            Condition("modes_captured", minimum=float(len(self.centres))),
            Condition("high_quality", minimum=min_high_quality),
        )

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        import torch

        centres = torch.tensor(self.centres, dtype=torch.float32)
        component = torch.randint(len(centres), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator) * self.std
        return centres[component] + noise

    def metrics(self, samples: torch.Tensor) -> dict[str, float]:
        import torch

        from ganpat_toy2d.metrics import mode_metrics, nearest_points

        centres = torch.tensor(self.centres, dtype=torch.float64)
        distance, mode = nearest_points(samples, centres)
        share = torch.full((len(centres),), 1.0 / len(centres), dtype=torch.float64)
        return mode_metrics(mode, distance <= 3 * self.std, share, PERFECT_HIGH_QUALITY_2D)

    def score(self, metrics: Mapping[str, float]) -> float:
        captured = metrics["modes_captured"] / metrics["modes_total"]
        return metrics["high_quality"] * captured * (1.0 - metrics["tv_modes"])

    def plot_limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        # a quarter of the layout's half-width plus 10 standard deviations around the outer centres
        margin = 0.25 * max(max(abs(x), abs(y)) for x, y in self.centres) + 10 * self.std
        xs = [x for x, _ in self.centres]
        ys = [y for _, y in self.centres]
        return (min(xs) - margin, max(xs) + margin), (min(ys) - margin, max(ys) + margin)


def ring_centres(count: int, radius: float) -> list[tuple[float, float]]:
    angles = [2 * math.pi * i / count for i in range(count)]
    return [(radius * math.cos(a), radius * math.sin(a)) for a in angles]


def grid_centres(values: Sequence[float]) -> list[tuple[float, float]]:
    return [(x, y) for x in values for y in values]
