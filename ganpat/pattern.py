"""The pattern contract: what a plugin supplies so that ganpat can train on it.

Nothing here imports torch, so that listing patterns stays fast; a pattern's
methods import it when they run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ganpat.recipe import Recipe

if TYPE_CHECKING:
    import numpy as np
    import torch

NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Condition:
    """One part of a pattern's target: a metric with a lower and/or upper bound."""

    metric: str
    minimum: float | None = None
    maximum: float | None = None

    def is_met(self, metrics: Mapping[str, float]) -> bool:
        value = metrics.get(self.metric)
        if value is None or value != value:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        if self.maximum is not None and value > self.maximum:
            return False
        return True

    def tightened(self, threshold: float | None) -> Condition:
        """Return this condition with ``threshold`` as its bound, or itself when ``threshold`` is None."""
        if threshold is None:
            return self
        if self.minimum is not None:
            return Condition(self.metric, minimum=max(self.minimum, threshold), maximum=self.maximum)
        return Condition(self.metric, maximum=min(self.maximum, threshold) if self.maximum is not None else threshold)

    def __str__(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"{self.metric} >= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{self.metric} <= {self.maximum:g}")
        return " and ".join(parts)


class Pattern:
    """Base class for a training pattern.

    Subclasses set the class attributes (or instance attributes in ``__init__``) and
    implement :meth:`sample` and :meth:`metrics`.
    """

    # lower-case words joined by hyphens, unique across all plugins
    name: str = ""
    # one line shown by ``ganpat list-patterns``
    description: str = ""
    # shape of one sample; ganpat's architectures expect a flat vector ``(d,)``
    sample_shape: tuple[int, ...] = ()
    # names of the values :meth:`decode` returns for each sample
    columns: tuple[str, ...] = ()
    # value :meth:`decode` uses for a sample that does not decode; None when every sample decodes
    invalid_value: float | None = None
    # fixed training set size; None draws fresh real samples at every step
    training_set_size: int | None = 2048
    # named recipes; "default" is used unless --recipe names another
    recipes: Mapping[str, Recipe] = {}
    # all conditions must hold for a generator to meet the pattern's target
    target: tuple[Condition, ...] = ()
    # plotter used by ``ganpat plot`` unless --plotter names another
    default_plotter: str = "scatter"
    # family parameters when the pattern belongs to a PatternFamily, else empty
    params: Mapping[str, Any] = {}

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` real samples as a float tensor of shape ``(n, *sample_shape)``."""
        raise NotImplementedError

    def decode(self, samples: torch.Tensor) -> np.ndarray:
        """Turn samples into readable values, shape ``(n, len(columns))``."""
        return samples.detach().cpu().reshape(len(samples), -1).numpy()

    def metrics(self, samples: torch.Tensor) -> dict[str, float]:
        """Compute the pattern's quality metrics on generated samples."""
        raise NotImplementedError

    def score(self, metrics: Mapping[str, float]) -> float:
        """Return one quality number, higher is better, used for early stopping."""
        raise NotImplementedError

    def target_met(self, metrics: Mapping[str, float], tighter: Mapping[str, float] | None = None) -> bool:
        """Return whether every target condition holds, with ``tighter`` thresholds replacing some bounds."""
        conditions = [c.tightened(tighter.get(c.metric)) if tighter else c for c in self.target]
        return bool(conditions) and all(c.is_met(metrics) for c in conditions)

    def plot_limits(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Return ``((xmin, xmax), (ymin, ymax))`` for 2-D plots, or None."""
        return None

    @property
    def default_recipe(self) -> Recipe:
        return self.recipes["default"]

    def __repr__(self) -> str:
        return f"<Pattern {self.name}>"


@dataclass(frozen=True)
class PatternFamily:
    """Many patterns with one integer parameter, such as ``onehot-multiples-of-{n}``.

    ``template`` contains the parameter in braces; ``build(value)`` returns the
    pattern for one value in ``values``.
    """

    template: str
    description: str
    values: range
    build: Callable[[int], Pattern]
    sample_shape: tuple[int, ...]
    default_architecture: str
    # names of the recipes every member has, listed without building a member
    recipe_names: tuple[str, ...] = ()
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefix, _, rest = self.template.partition("{")
        parameter, _, suffix = rest.partition("}")
        regex = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
        object.__setattr__(self, "_regex", regex)

    @property
    def parameter(self) -> str:
        return self.template.partition("{")[2].partition("}")[0]

    @property
    def display_name(self) -> str:
        """The name with the parameter in capitals, such as ``onehot-multiples-of-N``."""
        return self.template.replace("{" + self.parameter + "}", self.parameter.upper())

    @property
    def values_text(self) -> str:
        return f"{self.parameter.upper()} = {self.values.start}..{self.values.stop - 1}"

    def names(self) -> list[str]:
        return [self.template.replace("{" + self.parameter + "}", str(v)) for v in self.values]

    def parameter_outside_range(self, name: str) -> bool:
        """Return whether ``name`` has this family's form but a parameter outside its values."""
        found = self._regex.fullmatch(name)
        return found is not None and self.match(name) is None

    def match(self, name: str) -> int | None:
        """Return the parameter value that ``name`` stands for, or None."""
        found = self._regex.fullmatch(name)
        if found is None or found.group(1) != str(int(found.group(1))):
            return None
        value = int(found.group(1))
        return value if value in self.values else None
