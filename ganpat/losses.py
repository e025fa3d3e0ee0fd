"""GAN losses as per-element terms, which a caller averages over a batch or over each stacked seed.

``probability`` is true when the discriminator ends with a sigmoid (the book's networks), so
the terms are binary cross-entropy on probabilities; otherwise they take logits, with
``kind`` "bce" (non-saturating) or "hinge".
"""

from __future__ import annotations

import torch
from torch import nn


def real_term(d_real: torch.Tensor, kind: str, probability: bool) -> torch.Tensor:
    """Return the discriminator's loss for calling real samples real."""
    if probability:
        return nn.functional.binary_cross_entropy(d_real, torch.ones_like(d_real), reduction="none")
    if kind == "hinge":
        return torch.relu(1 - d_real)
    return nn.functional.softplus(-d_real)


def fake_term(d_fake: torch.Tensor, kind: str, probability: bool) -> torch.Tensor:
    """Return the discriminator's loss for calling generated samples fake."""
    if probability:
        return nn.functional.binary_cross_entropy(d_fake, torch.zeros_like(d_fake), reduction="none")
    if kind == "hinge":
        return torch.relu(1 + d_fake)
    return nn.functional.softplus(d_fake)


def generator_term(d_fake: torch.Tensor, kind: str, probability: bool) -> torch.Tensor:
    """Return the generator's loss for having its samples called real."""
    if probability:
        return nn.functional.binary_cross_entropy(d_fake, torch.ones_like(d_fake), reduction="none")
    if kind == "hinge":
        return -d_fake
    return nn.functional.softplus(-d_fake)
