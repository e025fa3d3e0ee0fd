"""The plugin's architecture: ganpat's configurable MLPs with a mixture latent in front of the
generator and, optionally, Fourier features in front of the discriminator.

Registering it does not import torch; the build methods do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganpat.architecture import ModelSpec
from ganpat.builtin.architectures import Mlp

if TYPE_CHECKING:
    from torch import nn


class MixtureMlp(Mlp):
    """``ganpat-mlp`` with a :class:`MixtureLatent` first in the generator and, when
    ``d_fourier_features`` is above 0, :class:`FourierFeatures` first in the discriminator."""

    name = "toy2d-mixture-mlp"
    description = (
        "ganpat-mlp with a learnable Gaussian-mixture latent in front of the generator and random Fourier "
        "features in front of the discriminator (options of ganpat-mlp, plus latent_components, "
        "component_spread, component_scale, d_fourier_features, d_fourier_scale)"
    )

    def latent_size(self, spec: ModelSpec) -> int:
        # one extra column of noise picks the mixture component
        return self._mixture_size(spec) + 1

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        from torch import nn

        from ganpat.builtin import networks
        from ganpat_toy2d.mixture_latent import MixtureLatent

        options = spec.options
        if options.get("latent", "normal") != "normal":
            raise ValueError("toy2d-mixture-mlp needs latent 'normal', because the mixture reads normal noise")
        mixture = MixtureLatent(
            int(options.get("latent_components", 32)),
            self._mixture_size(spec),
            float(options.get("component_spread", 1.0)),
            float(options.get("component_scale", 0.2)),
        )
        return nn.Sequential(mixture, networks.mlp_generator(spec, self._mixture_size(spec)))

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        from torch import nn

        from ganpat.builtin import networks
        from ganpat_toy2d.fourier_features import FourierFeatures

        features = int(spec.options.get("d_fourier_features", 0))
        if features == 0:
            return networks.mlp_discriminator(spec)
        layers: list[nn.Module] = []
        if spec.data_std is not None and spec.data_mean is not None:
            scale = [1.0 / s for s in spec.data_std] * spec.pack
            shift = [-m / s for m, s in zip(spec.data_mean, spec.data_std)] * spec.pack
            layers.append(networks.Affine(scale, shift))
        fourier = FourierFeatures(spec.sample_dim, spec.pack, features, float(spec.options.get("d_fourier_scale", 1.0)))
        # the MLP after the features takes standardised samples of dim + 2 * features values each
        widened = ModelSpec(spec.sample_dim + 2 * features, spec.pack, None, None, spec.options)
        return nn.Sequential(*layers, fourier, *networks.mlp_discriminator(widened))

    def _mixture_size(self, spec: ModelSpec) -> int:
        return int(spec.options.get("latent_size", spec.sample_dim))
