"""Contract checks for plugin authors: call them from a plugin's own tests.

``check_pattern(pattern)`` runs every check and returns one result per check;
``assert_pattern_contract(pattern)`` raises AssertionError listing the failures,
which is what a pytest test wants. ``ganpat check-pattern NAME`` runs the same
checks from the command line. This module imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from ganpat.architecture import ModelSpec
from ganpat.engine import CHECK_SAMPLES
from ganpat.pattern import Pattern
from ganpat.persistence import quiet_jit
from ganpat.registry import Registry

if TYPE_CHECKING:
    from torch import nn

# samples drawn by the shape, determinism and decoding checks
SAMPLES = 512
# samples whose metrics must meet the target; the engine's quality checks use the same number
PERFECT_SAMPLES = CHECK_SAMPLES
SEED = 1234


@dataclass
class CheckResult:
    """The outcome of one contract check."""

    name: str
    passed: bool
    detail: str


def check_pattern(pattern: Pattern, registry: Registry | None = None) -> list[CheckResult]:
    """Run every contract check on ``pattern`` and return one result per check.

    ``registry`` supplies the architecture of the pattern's recipes; by default it
    is the registry of this process's loaded plugins.
    """
    checks: list[tuple[str, Callable[[], str]]] = [
        ("registration", lambda: _check_registration(pattern)),
        ("sample shape and dtype", lambda: _check_sample(pattern)),
        ("seeded determinism", lambda: _check_determinism(pattern)),
        ("decoding", lambda: _check_decoding(pattern)),
        ("real samples meet the target", lambda: _check_real_samples(pattern)),
        ("generator survives torch.jit.script", lambda: _check_networks(pattern, registry)),
    ]
    results = []
    for name, check in checks:
        try:
            detail = check()
        except Exception as error:  # each failing check is reported, and the next one still runs
            results.append(CheckResult(name, False, f"{type(error).__name__}: {error}"))
        else:
            results.append(CheckResult(name, True, detail))
    return results


def assert_pattern_contract(pattern: Pattern, registry: Registry | None = None) -> None:
    """Raise AssertionError naming every failed check of ``pattern``."""
    failures = [result for result in check_pattern(pattern, registry) if not result.passed]
    if failures:
        lines = [f"pattern {getattr(pattern, 'name', pattern)!r} breaks the ganpat pattern contract:"]
        lines += [f"  {result.name}: {result.detail}" for result in failures]
        raise AssertionError("\n".join(lines))


# the checks; each returns a one-line summary or raises with the problem


def _check_registration(pattern: Pattern) -> str:
    """Apply the validation that registration applies, then validate every recipe."""
    Registry().add_pattern(pattern, "under test")
    for name, recipe in pattern.recipes.items():
        try:
            recipe.validate()
        except ValueError as error:
            raise ValueError(f"recipe {name!r} is invalid: {error}") from None
    if pattern.recipes["default"].steps_per_epoch is None and pattern.training_set_size is None:
        raise ValueError("the default recipe needs steps_per_epoch because training_set_size is None")
    return f"name {pattern.name!r}, recipes {', '.join(sorted(pattern.recipes))}"


def _draw(pattern: Pattern, n: int, seed: int) -> torch.Tensor:
    return pattern.sample(n, torch.Generator().manual_seed(seed))


def _check_sample(pattern: Pattern) -> str:
    samples = _draw(pattern, SAMPLES, SEED)
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"sample() returned {type(samples).__name__}, not a torch.Tensor")
    expected = (SAMPLES, *pattern.sample_shape)
    if tuple(samples.shape) != expected:
        raise ValueError(f"sample({SAMPLES}, generator) returned shape {tuple(samples.shape)}, expected {expected}")
    if not samples.dtype.is_floating_point:
        raise TypeError(f"sample() returned dtype {samples.dtype}; return a floating-point tensor")
    if not bool(torch.isfinite(samples).all()):
        raise ValueError("sample() returned NaN or infinite values")
    if len(_draw(pattern, 1, SEED)) != 1:
        raise ValueError("sample(1, generator) did not return exactly one sample")
    return f"shape {expected}, dtype {samples.dtype}"


def _check_determinism(pattern: Pattern) -> str:
    # moving the global seed between calls catches a sampler that ignores its generator
    torch.manual_seed(1)
    first = _draw(pattern, SAMPLES, SEED)
    torch.manual_seed(2)
    again = _draw(pattern, SAMPLES, SEED)
    other = _draw(pattern, SAMPLES, SEED + 1)
    if not torch.equal(first, again):
        raise ValueError("two generators with the same seed gave different samples; draw only from the generator argument")
    if torch.equal(first, other):
        raise ValueError("generators with different seeds gave the same samples; draw from the generator argument")
    return "the same seed gives the same samples, another seed other samples"


def _check_decoding(pattern: Pattern) -> str:
    samples = _draw(pattern, SAMPLES, SEED)
    decoded = pattern.decode(samples)
    if not isinstance(decoded, np.ndarray):
        raise TypeError(f"decode() returned {type(decoded).__name__}, not a numpy array")
    if decoded.ndim != 2 or decoded.shape[0] != SAMPLES:
        raise ValueError(f"decode() of {SAMPLES} samples returned shape {decoded.shape}, expected ({SAMPLES}, columns)")
    if pattern.columns and decoded.shape[1] != len(pattern.columns):
        raise ValueError(
            f"decode() returned {decoded.shape[1]} values per sample, but columns names {len(pattern.columns)}"
        )
    if pattern.invalid_value is not None and bool((decoded == pattern.invalid_value).any()):
        raise ValueError(f"decode() marked real samples as invalid ({pattern.invalid_value!r})")
    return f"{decoded.shape[1]} values per sample ({', '.join(pattern.columns) or 'no column names'})"


def _check_real_samples(pattern: Pattern) -> str:
    if not pattern.target:
        raise ValueError("the pattern has no target, so training cannot tell when it succeeded")
    metrics = pattern.metrics(_draw(pattern, PERFECT_SAMPLES, SEED))
    for name, value in metrics.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"metric {name!r} of real samples is {value!r}, not a finite number")
    missing = [condition.metric for condition in pattern.target if condition.metric not in metrics]
    if missing:
        raise ValueError(f"the target uses metrics that metrics() does not return: {', '.join(missing)}")
    failed = [str(condition) for condition in pattern.target if not condition.is_met(metrics)]
    if failed:
        shown = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())
        raise ValueError(f"{PERFECT_SAMPLES} real samples do not meet {'; '.join(failed)} ({shown})")
    score = pattern.score(metrics)
    if not math.isfinite(score):
        raise ValueError(f"score() of real samples is {score!r}, not a finite number")
    return ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())


def _check_networks(pattern: Pattern, registry: Registry | None) -> str:
    if registry is None:
        from ganpat import plugins

        registry = plugins.registry()
    checked = []
    for recipe in pattern.recipes.values():
        architecture = registry.architecture(recipe.architecture)
        spec = _model_spec(pattern, recipe.pack, recipe.standardize, recipe.arch_options)
        latent = architecture.latent_size(spec)
        generator = architecture.build_generator(spec).eval()
        with quiet_jit():
            scripted = torch.jit.script(generator)
        with torch.no_grad():
            output = scripted(torch.randn(4, latent))
        if tuple(output.shape) != (4, *pattern.sample_shape):
            raise ValueError(
                f"recipe {recipe.name!r}: the scripted generator maps (4, {latent}) to {tuple(output.shape)}, "
                f"expected {(4, *pattern.sample_shape)}"
            )
        _check_discriminator(architecture.build_discriminator(spec), recipe.name, spec)
        checked.append(f"{recipe.name} ({recipe.architecture})")
    return "recipes " + ", ".join(checked)


def _model_spec(pattern: Pattern, pack: int, standardize: bool, options: Any) -> ModelSpec:
    dim = pattern.sample_shape[0]
    if not standardize:
        return ModelSpec(dim, pack, None, None, dict(options))
    reference = _draw(pattern, SAMPLES, SEED).float()
    mean = tuple(float(v) for v in reference.mean(dim=0))
    std = tuple(max(float(v), 1e-6) for v in reference.std(dim=0))
    return ModelSpec(dim, pack, mean, std, dict(options))


def _check_discriminator(discriminator: nn.Module, recipe: str, spec: ModelSpec) -> None:
    with torch.no_grad():
        output = discriminator.eval()(torch.zeros(4, spec.pack * spec.sample_dim))
    if tuple(output.shape) != (4, 1):
        raise ValueError(f"recipe {recipe!r}: the discriminator returned shape {tuple(output.shape)}, expected (4, 1)")


__all__ = ["CheckResult", "assert_pattern_contract", "check_pattern"]
