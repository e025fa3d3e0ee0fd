"""The fixed latent draw that training's quality checks measure."""

from __future__ import annotations

import torch

# Sobol points are clamped this far inside (0, 1) so that the inverse normal CDF stays finite
_EDGE = 1e-7


def draw_check_noise(kind: str, n: int, latent_size: int, seed: int) -> torch.Tensor:
    """Draw ``n`` standard-normal latent vectors for quality checks, the same for every call with ``seed``.

    ``"normal"`` draws them independently. ``"sobol"`` maps a scrambled Sobol sequence through the inverse normal
    CDF: the points still follow the standard normal, but they fill the latent space more evenly than independent
    draws, so a metric measured on them is closer to the generator's value on unlimited samples. A check that
    picks the best of many generators on a noisy draw would otherwise favour the ones whose errors cancel that
    draw's own unevenness.
    """
    if kind == "normal":
        generator = torch.Generator(device="cpu").manual_seed(seed)
        return torch.randn(n, latent_size, generator=generator)
    if kind == "sobol":
        engine = torch.quasirandom.SobolEngine(latent_size, scramble=True, seed=seed)
        uniform = engine.draw(n, dtype=torch.float64).clamp(_EDGE, 1.0 - _EDGE)
        return (torch.special.ndtri(uniform)).float()
    raise ValueError(f"unknown check noise {kind!r}; use normal or sobol")
