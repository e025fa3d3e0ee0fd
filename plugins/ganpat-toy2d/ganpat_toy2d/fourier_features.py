"""Random Fourier features of each sample in a packed discriminator input; this module imports torch."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatures(nn.Module):
    """Append ``sin`` and ``cos`` of random projections to each sample of a packed batch.

    An MLP on raw 2-D coordinates fits high-frequency functions slowly (Tancik et al., 2020,
    "Fourier Features Let Networks Learn High Frequency Functions in Low Dimensional
    Domains"), so a discriminator on raw coordinates is slow to tell tight clusters from a
    smooth blob. The projection matrix has entries drawn from N(0, scale^2), in cycles per
    unit of the (standardised) input, and is fixed: a buffer saved with the model.
    An input of shape ``(b, pack * dim)`` becomes ``(b, pack * (dim + 2 * features))``.
    """

    def __init__(self, dim: int, pack: int, features: int, scale: float) -> None:
        super().__init__()
        if features < 1:
            raise ValueError(f"d_fourier_features must be at least 1, not {features}")
        if scale <= 0:
            raise ValueError(f"d_fourier_scale must be greater than 0, not {scale}")
        self.dim = dim
        self.pack = pack
        # drawn with torch's global generator, which training seeds
        self.register_buffer("projection", torch.randn(dim, features) * (2 * math.pi * scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        samples = x.reshape(-1, self.pack, self.dim)
        angles = samples @ self.projection
        features = torch.cat([samples, torch.sin(angles), torch.cos(angles)], dim=2)
        return features.reshape(len(x), -1)

    def output_width(self) -> int:
        return self.pack * (self.dim + 2 * self.projection.shape[1])
