"""The latent draw behind training's quality checks."""

from __future__ import annotations

import pytest
import torch

from ganpat import plugins
from ganpat.check_noise import draw_check_noise
from ganpat.engine import CHECK_SAMPLES, CHECK_SEED, Trainer
from ganpat.recipe import Recipe


def uniform_w1(values: torch.Tensor) -> float:
    """Return the Wasserstein-1 distance between ``values`` in [0, 1] and the uniform distribution."""
    ordered = values.double().sort().values
    n = len(ordered)
    middles = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return float((ordered - middles).abs().mean())


@pytest.mark.parametrize("kind", ["normal", "sobol"])
def test_draw_is_standard_normal_and_repeatable(kind):
    first = draw_check_noise(kind, 10_000, 3, seed=11)
    second = draw_check_noise(kind, 10_000, 3, seed=11)

    assert first.shape == (10_000, 3)
    assert first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)
    assert first.mean(dim=0).abs().max() < 0.05
    assert (first.std(dim=0) - 1).abs().max() < 0.05


def test_sobol_draw_is_more_even_than_normal():
    # Through the normal CDF each coordinate should be uniform on [0, 1]. Independent draws miss that by about
    # 0.003 at n = 10,000, and a scrambled Sobol sequence by far less.
    for seed in range(3):
        normal = torch.special.ndtr(draw_check_noise("normal", 10_000, 2, seed).double())
        sobol = torch.special.ndtr(draw_check_noise("sobol", 10_000, 2, seed).double())
        for column in range(2):
            assert uniform_w1(sobol[:, column]) < 0.0005
            assert uniform_w1(sobol[:, column]) < uniform_w1(normal[:, column]) / 3


def test_seeds_give_different_sobol_draws():
    assert not torch.equal(draw_check_noise("sobol", 100, 2, 0), draw_check_noise("sobol", 100, 2, 1))


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="halton"):
        draw_check_noise("halton", 10, 2, 0)


def test_recipe_rejects_unknown_check_noise():
    recipe = Recipe(name="x", architecture="ganpat-mlp", check_noise="uniform")
    with pytest.raises(ValueError, match="check_noise"):
        recipe.validate()


def test_trainer_measures_on_the_recipe_draw():
    registry = plugins.registry()
    pattern = registry.pattern("sine")
    recipe = pattern.default_recipe.replace(check_noise="sobol", epochs=1, steps_per_epoch=1)
    trainer = Trainer(pattern, registry.architecture(recipe.architecture), recipe, seed=0)

    expected = draw_check_noise("sobol", CHECK_SAMPLES, trainer.latent_size, seed=CHECK_SEED)
    assert torch.equal(trainer.check_noise, expected)

