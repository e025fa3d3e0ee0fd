"""The architecture contract: how a plugin builds a generator and a discriminator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """The facts about one pattern and recipe that an architecture builds its networks from."""

    # length of one flat sample
    sample_dim: int
    # samples packed into one discriminator input (PacGAN)
    pack: int = 1
    # per-feature mean and standard deviation of the training data, when the recipe standardises
    data_mean: tuple[float, ...] | None = None
    data_std: tuple[float, ...] | None = None
    # the recipe's arch_options
    options: Mapping[str, Any] = field(default_factory=dict)


class Architecture:
    """Base class for an architecture.

    A generator maps a latent batch ``(b, latent_size)`` to samples ``(b, sample_dim)``
    and must survive ``torch.jit.script``. A discriminator maps ``(b, pack * sample_dim)``
    to ``(b, 1)``: logits, or probabilities when ``discriminator_output`` is "probability".
    """

    name: str = ""
    description: str = ""
    # "logit" or "probability" (a final Sigmoid, as in the book)
    discriminator_output: str = "logit"

    def latent_size(self, spec: ModelSpec) -> int:
        raise NotImplementedError

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Architecture {self.name}>"
