"""Built-in plugin: the book's two architectures and ganpat's configurable MLP.

The networks live in :mod:`ganpat.builtin.networks`, imported only when a model is
built, so that registering these architectures does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ganpat import hookimpl
from ganpat.architecture import Architecture, ModelSpec

if TYPE_CHECKING:
    from torch import nn


class BookCurve(Architecture):
    name = "book-curve"
    description = "the book's curve GAN: G 2-16-32-2, D 2-256-128-64-1 with dropout 0.3, latent size 2"
    discriminator_output = "probability"

    def latent_size(self, spec: ModelSpec) -> int:
        return 2

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        from ganpat.builtin import networks

        return networks.book_curve_generator(spec)

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        from ganpat.builtin import networks

        return networks.book_curve_discriminator(spec)


class BookOnehot(Architecture):
    name = "book-onehot"
    description = "the book's one-hot GAN: G Linear(100,100)-ReLU, D Linear(100,1)-Sigmoid, latent size 100"
    discriminator_output = "probability"

    def latent_size(self, spec: ModelSpec) -> int:
        return 100

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        from ganpat.builtin import networks

        return networks.book_onehot_generator(spec)

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        from ganpat.builtin import networks

        return networks.book_onehot_discriminator(spec)


class Mlp(Architecture):
    """Multi-layer perceptrons whose sizes, activation and output head come from the recipe."""

    name = "ganpat-mlp"
    description = (
        "configurable MLPs (options g_hidden, d_hidden, g_activation, d_activation, head linear|softmax|gumbel, "
        "temperature, latent_size, latent normal|uniform, dropout, spectral_norm)"
    )

    def latent_size(self, spec: ModelSpec) -> int:
        return int(spec.options.get("latent_size", spec.sample_dim))

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        from ganpat.builtin import networks

        return networks.mlp_generator(spec, self.latent_size(spec))

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        from ganpat.builtin import networks

        return networks.mlp_discriminator(spec)


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    for architecture in (BookCurve(), BookOnehot(), Mlp()):
        register(architecture)
