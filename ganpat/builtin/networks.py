"""Networks of the built-in architectures; this module imports torch."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ganpat.architecture import ModelSpec

# values of one int16 lane of random bits
LANE_VALUES = 65536
# input widths up to which a discriminator's linear layer stores its weight column-major
NARROW_INPUT = 8


class Affine(nn.Module):
    """A fixed per-feature ``x * scale + shift``, stored as buffers so it is saved with the model."""

    def __init__(self, scale: Sequence[float], shift: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(list(scale), dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(list(shift), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def random_lanes(like: torch.Tensor, width: int) -> torch.Tensor:
    """Draw ``width`` uniform int16 values for every row of ``like``, four from each 64-bit word.

    The words come from ``random_`` over the full int64 range, so every bit is uniform.
    Under ``torch.func.vmap`` with ``randomness="different"`` each vmapped slice gets its
    own draw, because the words are allocated like a slice of ``like``.
    """
    shape = (*like.shape[:-1], (width + 3) // 4)
    words = torch.empty_like(like[..., :1].expand(shape), dtype=torch.int64).random_(-(2**63), None)
    return words.view(torch.int16)[..., :width]


class UniformDropout(nn.Module):
    """Dropout whose keep mask compares uniform 16-bit random integers with a threshold.

    Each element is dropped with probability ``p`` rounded to a multiple of 1/65536
    (0.3 becomes 0.3000031), and kept elements are scaled by the inverse of the
    rounded keep probability, as ``nn.Dropout`` scales by ``1 / (1 - p)``. CPU random
    draws cost per 32-bit word, so drawing 16 bits per element pays off. On a 128 x 256
    batch it took less than half the time of a ``torch.rand_like(x) >= p`` mask and a
    sixth of ``bernoulli_`` (torch 2.13.0+cpu, 2-core x86_64, one thread).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        dropped = round(p * LANE_VALUES)
        if dropped == LANE_VALUES:
            raise ValueError(f"dropout probability {p} rounds to 1 in steps of 1/{LANE_VALUES}; use a smaller one")
        self.p = p
        self.active = dropped > 0
        # int16 lanes below the threshold are dropped, so `dropped` of the 65536 values drop
        self.threshold = dropped - LANE_VALUES // 2
        self.scale = LANE_VALUES / (LANE_VALUES - dropped)

    def mask(self, lanes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Return the scaled keep mask for int16 ``lanes`` from :func:`random_lanes`."""
        # lane - (threshold - 1) is at least 1 for kept lanes and at most 0 for dropped ones.
        # The clamp is out of place because vmap has no batching rule for clamp_.
        return lanes.to(dtype).sub_(self.threshold - 1).clamp(0.0, 1.0).mul_(self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.active:
            return x
        return x * self.mask(random_lanes(x, x.shape[-1]), x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SharedDropoutSequential(nn.Sequential):
    """An ``nn.Sequential`` whose :class:`UniformDropout` layers share one random draw per forward.

    One draw and one mask for all dropout layers took about two thirds of the time of
    one per layer on the book's curve discriminator, because each draw and mask costs
    several small kernels. The masks are independent slices of the draw, so the
    output has the same distribution. It needs every dropout layer to have the same
    ``p`` and to follow a layer with ``out_features``; otherwise it runs like
    ``nn.Sequential``. Slicing returns this class too, as ``nn.Sequential`` does.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.dropouts = [module for module in self if isinstance(module, UniformDropout)]
        self.dropout_widths: list[int] = []
        width: int | None = None
        for module in self:
            if isinstance(module, UniformDropout) and width is not None:
                self.dropout_widths.append(width)
            width = getattr(module, "out_features", width)
        self.shared = (
            bool(self.dropouts)
            and len(self.dropout_widths) == len(self.dropouts)
            and len({dropout.threshold for dropout in self.dropouts}) == 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the dropout layers' own flag, because a slice of this module is not switched by train() and eval()
        first = self.dropouts[0] if self.dropouts else None
        if first is None or not (self.shared and first.training and first.active):
            return super().forward(x)

        mask = first.mask(random_lanes(x, sum(self.dropout_widths)), x.dtype)
        offset = 0
        for module in self:
            if isinstance(module, UniformDropout):
                width = x.shape[-1]
                x = x * mask[..., offset : offset + width]
                offset += width
            else:
                x = module(x)
        return x


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

    With grad mode off the output is the one-hot vector alone, exactly 0 and 1, and no
    softmax is computed.

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
        scores = logits + gumbel
        # the largest score marks the largest probability, and max(dim) took about half the time of argmax
        # on 256 rows of 100 (torch 2.13.0+cpu, one thread)
        best, index = scores.max(dim=1, keepdim=True)
        # best - best + 1 is 1, or NaN where the row's maximum is NaN or infinite, so such a row decodes as invalid
        hard = torch.zeros_like(scores).scatter(1, index, best - best + 1.0)
        # grad mode alone decides, because under torch.func.vmap requires_grad reads False
        if not torch.is_grad_enabled():
            return hard
        soft = torch.softmax(scores / self.temperature, dim=1)
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


def column_major(layer: nn.Linear) -> nn.Linear:
    """Store ``layer``'s weight transposed in memory, keeping its values, shape and state_dict keys.

    Autograd then computes the weight gradient as ``x.T @ grad`` rather than ``grad.T @ x``.
    For 2 inputs, 256 outputs and a batch of 128, that product took about a fifth of the
    time (torch 2.13.0+cpu, 2-core x86_64, one thread), because the other one has only two
    output columns.
    """
    layer.weight = nn.Parameter(layer.weight.detach().t().contiguous().t())
    return layer


def discriminator_linear(width_in: int, width_out: int, options: Mapping[str, Any]) -> nn.Module:
    """Return a discriminator's linear layer: spectrally normalised when the options ask, column-major when narrow."""
    layer = nn.Linear(width_in, width_out)
    if options.get("spectral_norm", False):
        return nn.utils.parametrizations.spectral_norm(layer)
    if width_in <= NARROW_INPUT < width_out:
        return column_major(layer)
    return layer


def book_curve_generator(spec: ModelSpec) -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 16), nn.ReLU(),
        nn.Linear(16, 32), nn.ReLU(),
        nn.Linear(32, spec.sample_dim),
    )  # fmt: skip


def book_curve_discriminator(spec: ModelSpec) -> nn.Module:
    return SharedDropoutSequential(
        discriminator_linear(spec.sample_dim * spec.pack, 256, {}), nn.ReLU(), UniformDropout(0.3),
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
        layers += [discriminator_linear(width, hidden, options), activation(options.get("d_activation", "leaky_relu"))]
        if dropout > 0:
            layers.append(UniformDropout(dropout))
        width = hidden
    layers.append(discriminator_linear(width, 1, options))
    return SharedDropoutSequential(*layers)
