"""ganpat-toy2d: the 2-D toy problems that GAN papers use to study mode collapse.

Registering the patterns does not import torch: the pattern methods import it when they run.
"""

from __future__ import annotations

from typing import Callable

from ganpat import hookimpl
from ganpat.architecture import Architecture
from ganpat.pattern import Pattern
from ganpat.plotter import Plotter
from ganpat_toy2d.architectures import MixtureMlp
from ganpat_toy2d.curves import NoisyCurvePattern, moon_points, swiss_roll_points
from ganpat_toy2d.mixtures import GaussianMixturePattern, grid_centres, ring_centres
from ganpat_toy2d.plotters import DensityPlotter
from ganpat_toy2d.recipes import CURVE_RECIPE, GRID_RECIPE, RING_RECIPE

__version__ = "0.1.0"

PATTERNS: tuple[Pattern, ...] = (
    GaussianMixturePattern(
        "ring-8",
        "8 Gaussians (std 0.02) evenly spaced on a circle of radius 2",
        ring_centres(8, radius=2.0),
        std=0.02,
        min_high_quality=0.95,
        recipes={"default": RING_RECIPE},
    ),
    GaussianMixturePattern(
        "grid-25",
        "25 Gaussians (std 0.05) centred on the grid {-4,-2,0,2,4}^2",
        grid_centres([-4.0, -2.0, 0.0, 2.0, 4.0]),
        std=0.05,
        min_high_quality=0.90,
        recipes={"default": GRID_RECIPE},
    ),
    NoisyCurvePattern(
        "two-moons",
        "two interleaved half circles of radius 1 with Gaussian noise (std 0.05)",
        moon_points,
        pieces=2,
        segments=8,
        std=0.05,
        limits=((-2.0, 2.0), (-1.5, 1.5)),
        recipes={"default": CURVE_RECIPE},
    ),
    NoisyCurvePattern(
        "swiss-roll",
        "a 2-D spiral (r cos r, r sin r) / 5, r in [1.5 pi, 4.5 pi], with Gaussian noise (std 0.05)",
        swiss_roll_points,
        pieces=1,
        segments=16,
        std=0.05,
        limits=((-3.0, 3.0), (-3.0, 3.0)),
        recipes={"default": CURVE_RECIPE},
    ),
)


@hookimpl
def register_patterns(register: Callable[[Pattern], None]) -> None:
    for pattern in PATTERNS:
        register(pattern)


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    register(MixtureMlp())


@hookimpl
def register_plotters(register: Callable[[Plotter], None]) -> None:
    register(DensityPlotter())
