"""Opening a saved generator with its pattern, and measuring its quality."""

from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path

import torch

from ganpat import plugins
from ganpat.errors import GanpatError, UsageProblem
from ganpat.generation import sample_chunks
from ganpat.pattern import Pattern
from ganpat.persistence import LoadedGenerator, load_generator

EVALUATE_SEED = 0
EVALUATE_SAMPLES = 10_000


def open_model(path: Path | str, pattern_name: str | None, device: torch.device | str = "cpu") -> tuple[LoadedGenerator, Pattern]:
    """Load a generator and find its pattern from the metadata or from ``--pattern``."""
    loaded = load_generator(path, device)
    saved = loaded.pattern_name
    if pattern_name is None and saved is None:
        raise UsageProblem(
            f"{loaded.path} has no ganpat metadata, so its pattern is unknown; add --pattern NAME "
            "(see 'ganpat list-patterns')"
        )
    if pattern_name is not None and saved is not None and pattern_name != saved:
        raise UsageProblem(f"{loaded.path} was trained on pattern {saved}, not {pattern_name}; drop --pattern")
    registry = plugins.registry()
    if pattern_name is None and saved is not None and saved not in registry.pattern_names():
        raise UsageProblem(_missing_pattern(loaded, saved))
    pattern = registry.pattern(pattern_name or saved)  # type: ignore[arg-type]
    _check_output_shape(loaded, pattern)
    return loaded, pattern


def _missing_pattern(loaded: LoadedGenerator, name: str) -> str:
    """Return the message for a model whose pattern no loaded plugin registers."""
    plugin = loaded.metadata.get("pattern_plugin")
    provider = f"the {plugin} plugin" if plugin else "the plugin that provides it"
    message = f"{loaded.path} was trained on pattern {name!r}, which no loaded plugin registers; install {provider}"
    if os.environ.get(plugins.ENV_VAR) is not None:
        message += f", and check that {plugins.ENV_VAR} loads it"
    return message


def _check_output_shape(loaded: LoadedGenerator, pattern: Pattern) -> None:
    with torch.no_grad():
        try:
            probe = loaded.module(torch.zeros(2, loaded.latent_size))
        except Exception as error:
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise GanpatError(
                f"{loaded.path} failed on a latent batch of size {loaded.latent_size}: "
                f"{type(error).__name__}: {first_line}"
            ) from None
    if not isinstance(probe, torch.Tensor):
        raise GanpatError(
            f"{loaded.path} returns {type(probe).__name__}, not a tensor of samples; "
            "save a generator whose forward returns one tensor"
        )
    if tuple(probe.shape[1:]) != tuple(pattern.sample_shape):
        raise UsageProblem(
            f"{loaded.path} produces samples of shape {tuple(probe.shape[1:])}, but pattern {pattern.name} "
            f"needs {tuple(pattern.sample_shape)}; check --pattern"
        )


@dataclass
class Evaluation:
    metrics: dict[str, float]
    target_met: bool
    target: list[str]
    n: int
    seed: int


def evaluate(loaded: LoadedGenerator, pattern: Pattern, n: int = EVALUATE_SAMPLES, seed: int = EVALUATE_SEED) -> Evaluation:
    """Measure the pattern's metrics on ``n`` samples from seeded noise."""
    chunks = list(sample_chunks(loaded, n, seed))
    samples = torch.cat(chunks) if chunks else torch.zeros(0, *pattern.sample_shape)
    metrics = pattern.metrics(samples)
    return Evaluation(metrics, pattern.target_met(metrics), [str(c) for c in pattern.target], n, seed)
