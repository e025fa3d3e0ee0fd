"""A latent layer that turns standard normal noise into a draw from a mixture of Gaussians; this module imports torch."""

from __future__ import annotations

import math

import torch
from torch import nn


class MixtureLatent(nn.Module):
    """A mixture of ``components`` Gaussians in latent space with learnable means and scales.

    DeLiGAN (Gurumurthy et al., 2017) learns such a latent mixture along with the GAN.
    The input is standard normal noise of ``size + 1`` columns. Column 0 picks the component:
    its normal CDF, times ``components``, rounded down, so every component has weight
    ``1 / components``. Columns 1 to ``size`` are scaled and shifted by that component's
    parameters. Picking the component is a step function of the noise, so a generator built
    on this layer can place its components on separate modes without samples between them.
    The output depends only on the input, so seeded noise gives repeatable samples.
    """

    def __init__(self, components: int, size: int, spread: float, scale: float) -> None:
        super().__init__()
        if components < 1:
            raise ValueError(f"latent_components must be at least 1, not {components}")
        if spread < 0:
            raise ValueError(f"component_spread must be at least 0, not {spread}")
        if scale <= 0:
            raise ValueError(f"component_scale must be greater than 0, not {scale}")
        self.components = components
        # means drawn uniformly from [-spread, spread] with torch's global generator, which training seeds
        self.means = nn.Parameter(torch.empty(components, size).uniform_(-spread, spread))
        # the log of the scales, so that a scale stays positive whatever step the optimizer takes
        self.log_scales = nn.Parameter(torch.full((components, size), math.log(scale)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        uniform = torch.special.ndtr(z[:, 0])
        index = (uniform * self.components).long().clamp(0, self.components - 1)
        return self.means[index] + torch.exp(self.log_scales[index]) * z[:, 1:]

    def extra_repr(self) -> str:
        return f"components={self.components}, size={self.means.shape[1]}"
