"""Networks of the built-in architectures; this module imports torch."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ganpat.architecture import ModelSpec


class Affine(nn.Module):
    """A fixed per-feature ``x * scale + shift``, stored as buffers so it is saved with the model."""

    def __init__(self, scale: Sequence[float], shift: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(list(scale), dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(list(shift), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class UniformDropout(nn.Module):
    """Dropout whose keep mask comes from ``torch.rand_like(x) >= p``.

    It has the distribution of ``nn.Dropout(p)``: each element is kept with probability
    ``1 - p`` and scaled by ``1 / (1 - p)``. PyTorch's CPU dropout draws its mask with
    ``bernoulli_``, which took about twice as long as ``rand_like`` on a 128 x 256 batch
    (torch 2.13.0+cpu, 2-core x86_64).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class NormalToUniform(nn.Module):
    """Map standard normal noise to uniform noise on [-1, 1] through the normal CDF.

    ganpat always feeds generators standard normal latent vectors; this layer lets a
    generator learn from uniform noise without changing that interface.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.special.ndtr(z) - 1.0


class StraightThroughGumbel(nn.Module):
    """A one-hot head: the forward pass emits the hard one-hot of a Gumbel-softmax draw,
    and gradients flow through the soft probabilities at ``temperature``.

    The Gumbel noise comes from torch's global random generator, so seed it (as
    ``ganpat generate --seed`` does) for repeatable samples.
    """

    def __init__(self, temperature: float) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"Gumbel-softmax temperature must be greater than 0, not {temperature}")
        self.temperature = temperature

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        # Gumbel(0, 1) noise as -log(-log(U)); rand_like is much faster than exponential_ on the CPU
        uniform = torch.rand_like(logits).clamp(min=1e-12, max=1.0 - 1e-7)
        gumbel = -torch.log(-torch.log(uniform))
        soft = torch.softmax((logits + gumbel) / self.temperature, dim=1)
        index = soft.argmax(dim=1, keepdim=True)
        hard = torch.zeros_like(soft).scatter(1, index, 1.0)
        return hard - soft.detach() + soft

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "silu":
        return nn.SiLU()
    raise ValueError(f"unknown activation {name!r}; use relu, leaky_relu or silu")


def linear(width_in: int, width_out: int, options: Mapping[str, Any]) -> nn.Module:
    layer = nn.Linear(width_in, width_out)
    if options.get("spectral_norm", False):
        return nn.utils.parametrizations.spectral_norm(layer)
    return layer


def book_curve_generator(spec: ModelSpec) -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 16), nn.ReLU(),
        nn.Linear(16, 32), nn.ReLU(),
        nn.Linear(32, spec.sample_dim),
    )  # fmt: skip


def book_curve_discriminator(spec: ModelSpec) -> nn.Module:
    return nn.Sequential(
        nn.Linear(spec.sample_dim * spec.pack, 256), nn.ReLU(), UniformDropout(0.3),
        nn.Linear(256, 128), nn.ReLU(), UniformDropout(0.3),
        nn.Linear(128, 64), nn.ReLU(), UniformDropout(0.3),
        nn.Linear(64, 1), nn.Sigmoid(),
    )  # fmt: skip


def book_onehot_generator(spec: ModelSpec) -> nn.Module:
    return nn.Sequential(nn.Linear(100, spec.sample_dim), nn.ReLU())


def book_onehot_discriminator(spec: ModelSpec) -> nn.Module:
    return nn.Sequential(nn.Linear(spec.sample_dim * spec.pack, 1), nn.Sigmoid())


def mlp_generator(spec: ModelSpec, latent_size: int) -> nn.Module:
    options = spec.options
    layers: list[nn.Module] = []
    latent = options.get("latent", "normal")
    if latent == "uniform":
        layers.append(NormalToUniform())
    elif latent != "normal":
        raise ValueError(f"unknown latent distribution {latent!r}; use normal or uniform")
    width = latent_size
    for hidden in options.get("g_hidden", [64, 64]):
        layers += [nn.Linear(width, hidden), activation(options.get("g_activation", "leaky_relu"))]
        width = hidden
    layers.append(nn.Linear(width, spec.sample_dim))
    head = options.get("head", "linear")
    if head == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif head == "gumbel":
        layers.append(StraightThroughGumbel(float(options.get("temperature", 1.0))))
    elif head != "linear":
        raise ValueError(f"unknown generator head {head!r}; use linear, softmax or gumbel")
    if spec.data_std is not None and spec.data_mean is not None:
        # de-standardise, so the saved generator emits samples in the data's own units
        layers.append(Affine(spec.data_std, spec.data_mean))
    return nn.Sequential(*layers)


def mlp_discriminator(spec: ModelSpec) -> nn.Module:
    options = spec.options
    layers: list[nn.Module] = []
    if spec.data_std is not None and spec.data_mean is not None:
        scale = [1.0 / s for s in spec.data_std] * spec.pack
        shift = [-m / s for m, s in zip(spec.data_mean, spec.data_std)] * spec.pack
        layers.append(Affine(scale, shift))
    width = spec.sample_dim * spec.pack
    dropout = float(options.get("dropout", 0.0))
    for hidden in options.get("d_hidden", [128, 128]):
        layers += [linear(width, hidden, options), activation(options.get("d_activation", "leaky_relu"))]
        if dropout > 0:
            layers.append(UniformDropout(dropout))
        width = hidden
    layers.append(linear(width, 1, options))
    return nn.Sequential(*layers)
