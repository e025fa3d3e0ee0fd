"""ganpat-toy2d's architecture: the mixture latent, the Fourier features and the networks built from them."""

from __future__ import annotations

import pytest
import torch

from ganpat import plugins
from ganpat.architecture import ModelSpec
from ganpat.persistence import quiet_jit
from ganpat_toy2d.fourier_features import FourierFeatures
from ganpat_toy2d.mixture_latent import MixtureLatent

torch.set_num_threads(1)

OPTIONS = {
    "g_hidden": [32, 32],
    "d_hidden": [32, 32],
    "latent_size": 3,
    "latent_components": 5,
    "d_fourier_features": 4,
    "d_fourier_scale": 0.5,
}


@pytest.fixture(scope="module")
def architecture():
    return plugins.registry().architectures["toy2d-mixture-mlp"].item


def spec(pack: int = 4, **changes: object) -> ModelSpec:
    return ModelSpec(2, pack, (0.5, -1.0), (2.0, 3.0), {**OPTIONS, **changes})


def test_mixture_latent_picks_component_from_first_column():
    torch.manual_seed(0)
    layer = MixtureLatent(components=4, size=2, spread=1.0, scale=0.5)
    # quantiles 0.1, 0.3, 0.6, 0.9 of the normal distribution fall in components 0, 1, 2, 3
    picker = torch.special.ndtri(torch.tensor([0.1, 0.3, 0.6, 0.9]))
    rest = torch.tensor([[0.0, 0.0], [1.0, -1.0], [0.0, 0.0], [2.0, 0.0]])

    out = layer(torch.cat([picker[:, None], rest], dim=1))

    expected = layer.means + torch.exp(layer.log_scales) * rest
    torch.testing.assert_close(out, expected)


def test_mixture_latent_equal_component_weights():
    layer = MixtureLatent(components=8, size=1, spread=1.0, scale=0.1)
    with torch.no_grad():
        layer.means.copy_(torch.arange(8.0)[:, None])
    # evenly spaced quantiles, so each component's exact share of the noise is known
    quantiles = (torch.arange(8000, dtype=torch.float64) + 0.5) / 8000
    z = torch.stack([torch.special.ndtri(quantiles).float(), torch.zeros(8000)], dim=1)

    picked = layer(z).round().long().squeeze(1)

    assert torch.bincount(picked, minlength=8).tolist() == [1000] * 8


def test_mixture_latent_rejects_bad_options():
    with pytest.raises(ValueError, match="latent_components"):
        MixtureLatent(components=0, size=2, spread=1.0, scale=0.2)
    with pytest.raises(ValueError, match="component_spread"):
        MixtureLatent(components=2, size=2, spread=-1.0, scale=0.2)
    with pytest.raises(ValueError, match="component_scale"):
        MixtureLatent(components=2, size=2, spread=1.0, scale=0.0)


def test_fourier_features_shape_and_values():
    torch.manual_seed(0)
    layer = FourierFeatures(dim=2, pack=3, features=5, scale=1.0)
    x = torch.randn(7, 6)

    out = layer(x)

    assert out.shape == (7, layer.output_width())
    assert layer.output_width() == 3 * (2 + 2 * 5)
    per_sample = out.reshape(7, 3, 12)
    torch.testing.assert_close(per_sample[:, :, :2], x.reshape(7, 3, 2))
    sines, cosines = per_sample[:, :, 2:7], per_sample[:, :, 7:]
    torch.testing.assert_close(sines**2 + cosines**2, torch.ones(7, 3, 5))


def test_fourier_features_reject_bad_options():
    with pytest.raises(ValueError, match="d_fourier_features"):
        FourierFeatures(dim=2, pack=1, features=0, scale=1.0)
    with pytest.raises(ValueError, match="d_fourier_scale"):
        FourierFeatures(dim=2, pack=1, features=4, scale=0.0)


def test_generator_scripts_and_repeats(architecture):
    torch.manual_seed(3)
    generator = architecture.build_generator(spec())
    with quiet_jit():
        scripted = torch.jit.script(generator)
    z = torch.randn(64, architecture.latent_size(spec()), generator=torch.Generator().manual_seed(1))

    assert architecture.latent_size(spec()) == OPTIONS["latent_size"] + 1
    with torch.no_grad():
        first = generator(z)
        torch.testing.assert_close(scripted(z), first)
        torch.testing.assert_close(generator(z), first)
    assert first.shape == (64, 2)


def test_generator_rejects_uniform_latent(architecture):
    with pytest.raises(ValueError, match="latent 'normal'"):
        architecture.build_generator(spec(latent="uniform"))


@pytest.mark.parametrize("features", [0, 4])
def test_discriminator_output_shape(architecture, features):
    discriminator = architecture.build_discriminator(spec(pack=4, d_fourier_features=features))
    packed = torch.randn(10, 4 * 2)

    assert discriminator(packed).shape == (10, 1)
    has_features = any(isinstance(layer, FourierFeatures) for layer in discriminator.modules())
    assert has_features == (features > 0)


def test_discriminator_standardises_before_features(architecture):
    torch.manual_seed(0)
    discriminator = architecture.build_discriminator(spec(pack=1))
    mean = torch.tensor([[0.5, -1.0]])

    fourier = next(layer for layer in discriminator if isinstance(layer, FourierFeatures))
    seen: list[torch.Tensor] = []
    fourier.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    discriminator(mean)

    # the data mean becomes the origin once standardised
    torch.testing.assert_close(seen[0], torch.zeros(1, 2))
