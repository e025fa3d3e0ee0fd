"""Built-in plugin: 2-D points on a curve y = f(x), x uniform on a domain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

from ganpat import hookimpl
from ganpat.pattern import Condition, Pattern
from ganpat.recipe import Recipe

if TYPE_CHECKING:
    import torch

BOOK_RECIPE = Recipe(
    name="book",
    architecture="book-curve",
    loss="bce",
    batch_size=128,
    lr_g=5e-4,
    lr_d=5e-4,
    separate_d_steps=True,
    epochs=10_000,
    patience=1000,
)

DEFAULT_RECIPE = Recipe(
    name="default",
    architecture="ganpat-mlp",
    arch_options={
        "latent_size": 2,
        "latent": "uniform",
        "g_hidden": [64, 64],
        # each discriminator input is a pack of two samples, so the layers are twice as wide
        "d_hidden": [128, 128],
        "g_activation": "silu",
        "d_activation": "leaky_relu",
    },
    loss="bce",
    batch_size=128,
    lr_g=3e-3,
    lr_d=3e-3,
    betas=(0.5, 0.999),
    # packing two samples lets the discriminator see how evenly x is spread, which one sample cannot show
    pack=2,
    ema_decay=0.995,
    lr_schedule="cosine",
    lr_final_fraction=0.05,
    # 16 steps an epoch, so 500 epochs are 8000 steps and a check comes every 256 steps
    epochs=500,
    patience=500,
    check_every=16,
    target_hold=2,
    standardize=True,
    fresh_data=True,
    # checks on a Sobol draw measure close to the generator's true value, so these bounds leave the margin
    # that evaluate's independent draw needs: its own x_coverage_w1 noise is about 0.003 at 10,000 samples
    check_noise="sobol",
    stop_thresholds={"in_range": 0.995, "on_curve": 0.985, "x_coverage_w1": 0.005},
)

TARGET = (
    Condition("in_range", minimum=0.99),
    Condition("on_curve", minimum=0.97),
    Condition("x_coverage_w1", maximum=0.01),
)


class CurvePattern(Pattern):
    """Points (x, y) with x uniform on ``domain`` and y = f(x)."""

    columns = ("x", "y")
    sample_shape = (2,)
    training_set_size = 2048
    default_plotter = "scatter"
    target = TARGET

    def __init__(
        self,
        name: str,
        description: str,
        curve: Callable[[torch.Tensor], torch.Tensor],
        domain: tuple[float, float],
        value_range: tuple[float, float],
        recipes: Mapping[str, Recipe] | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.curve = curve
        self.domain = domain
        self.value_range = value_range
        # on_curve tolerance: 2% of the span of f over the domain
        self.tolerance = 0.02 * (value_range[1] - value_range[0])
        self.recipes = recipes or {"default": DEFAULT_RECIPE, "book": BOOK_RECIPE}

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        import torch

        low, high = self.domain
        x = low + (high - low) * torch.rand(n, generator=generator)
        return torch.stack([x, self.curve(x)], dim=1)

    def metrics(self, samples: torch.Tensor) -> dict[str, float]:
        from ganpat.metrics import curve_metrics

        return curve_metrics(samples, self.curve, self.domain, self.tolerance)

    def score(self, metrics: Mapping[str, float]) -> float:
        coverage = max(0.0, 1.0 - metrics["x_coverage_w1"] / 0.05)
        return metrics["in_range"] * metrics["on_curve"] * coverage

    def plot_limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return self.domain, self.value_range


def _exponential(x: torch.Tensor) -> torch.Tensor:
    return 1.08**x


def _inverted_u(x: torch.Tensor) -> torch.Tensor:
    return 10 - x**2


def _sine(x: torch.Tensor) -> torch.Tensor:
    return x.sin()


PATTERNS = (
    CurvePattern(
        "exponential",
        "points on y = 1.08^x, x uniform on [0, 50)",
        _exponential,
        domain=(0.0, 50.0),
        value_range=(1.0, 1.08**50),
    ),
    CurvePattern(
        "inverted-u",
        "points on y = 10 - x^2, x uniform on [-5, 5)",
        _inverted_u,
        domain=(-5.0, 5.0),
        value_range=(-15.0, 10.0),
    ),
    CurvePattern(
        "sine",
        "points on y = sin(x), x uniform on [-5, 5)",
        _sine,
        domain=(-5.0, 5.0),
        value_range=(-1.0, 1.0),
    ),
)


@hookimpl
def register_patterns(register: Callable[[Pattern], None]) -> None:
    for pattern in PATTERNS:
        register(pattern)
