"""Stacked networks: K networks of one structure whose weights share a leading seed dimension.

A forward pass takes ``x`` of shape ``(K, b, features)`` and runs network k on ``x[k]``.
A network built only from layers with a known batched form (``nn.Linear``, elementwise
activations, dropout, softmax over features, and ganpat's ``Affine``, ``NormalToUniform``
and ``StraightThroughGumbel``) runs as batched matrix products with ordinary autograd.
Any other network, such as a plugin's, runs through ``torch.func.vmap`` over
``functional_call``, which costs more per layer.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ganpat.builtin.networks import (
    Affine,
    NormalToUniform,
    SharedDropoutSequential,
    StraightThroughGumbel,
    UniformDropout,
)
from ganpat.onehot_input import OneHotLinear

# containers that run their layers in order. SharedDropoutSequential draws all its dropout
# masks at once, and the batched form draws them layer by layer, with the same distribution.
SEQUENCES = (nn.Sequential, SharedDropoutSequential)

# layers that act on each element alone and hold no weights, so they take the stacked
# batch (K, b, features) as it is
ELEMENTWISE_LAYERS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.SiLU,
    nn.GELU,
    nn.ELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Identity,
    nn.Dropout,
    UniformDropout,
    NormalToUniform,
)

# the 24 low bits from which torch's CPU generator makes a float32 in [0, 1)
FLOAT_MANTISSA_MASK = 2**24 - 1

# Output widths up to which a linear layer runs as NarrowLinear. With 64 inputs and 128 rows a
# seed, the transposed products of its forward and backward took 60 to 65% of the time of x @ W
# for 2 to 8 outputs, and 135% for 16 outputs. Measured on 16 seeds, torch 2.13.0+cpu, one thread.
NARROW_OUTPUT = 8

Tensors = Mapping[str, torch.Tensor]
Layer = Callable[[torch.Tensor, Tensors], torch.Tensor]


def _linear(weight_name: str, bias_name: str | None, x: torch.Tensor, tensors: Tensors) -> torch.Tensor:
    weight = tensors[weight_name]  # (K, in, out): nn.Linear's weight transposed
    bias = tensors[bias_name] if bias_name is not None else None
    if weight.shape[2] == 1:
        # with one output column, bmm and its backward took about twice as long as a
        # multiply and sum (16 x 256 x 64 inputs, torch 2.13.0+cpu, one thread)
        out = (x * weight.transpose(1, 2)).sum(dim=-1, keepdim=True)
        return out if bias is None else out + bias.unsqueeze(1)
    if weight.shape[2] <= NARROW_OUTPUT:
        return NarrowLinear.apply(x, weight, bias)
    if bias is None:
        return torch.bmm(x, weight)
    return torch.baddbmm(bias.unsqueeze(1), x, weight)


class NarrowLinear(torch.autograd.Function):
    """A stacked linear layer ``x @ weight + bias`` with few outputs, computed as ``(weight.T @ x.T).T``.

    The transposed products have few rows rather than few columns. The backward pass
    returns the input gradient in the input's own row-major layout, because the
    elementwise backward of the layer before (SiLU, for example) took about four times
    as long on a transposed gradient.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        weight_rows, x_columns = weight.transpose(1, 2), x.transpose(1, 2)
        if bias is None:
            out = torch.bmm(weight_rows, x_columns)
        else:
            out = torch.baddbmm(bias.unsqueeze(2), weight_rows, x_columns)
        return out.transpose(1, 2).contiguous()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(grad, weight.transpose(1, 2))
        if ctx.needs_input_grad[1]:
            grad_weight = torch.bmm(grad.transpose(1, 2), x).transpose(1, 2)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=1)
        return grad_x, grad_weight, grad_bias


def _affine(scale_name: str, shift_name: str, x: torch.Tensor, tensors: Tensors) -> torch.Tensor:
    return x * tensors[scale_name].unsqueeze(1) + tensors[shift_name].unsqueeze(1)


def _elementwise(layer: nn.Module, x: torch.Tensor, tensors: Tensors) -> torch.Tensor:
    return layer(x)


def _rectifier(negative_slope: float, x: torch.Tensor, tensors: Tensors) -> torch.Tensor:
    # in place on the preceding layer's fresh output, whose backward does not read it
    return torch.nn.functional.leaky_relu_(x, negative_slope) if negative_slope else torch.relu_(x)


def _softmax(x: torch.Tensor, tensors: Tensors) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def _straight_through_gumbel(layer: StraightThroughGumbel, x: torch.Tensor, tensors: Tensors) -> torch.Tensor:
    if not (torch.is_grad_enabled() and x.requires_grad):
        seeds, batch, width = x.shape
        return _categorical_one_hot(x.reshape(seeds * batch, width)).reshape(seeds, batch, width)
    soft, index = _gumbel_soft(layer, x)
    hard = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard.sub_(soft.detach()) + soft


def _gumbel_soft(layer: StraightThroughGumbel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the Gumbel-softmax probabilities of a straight-through head and the position of their maximum."""
    # StraightThroughGumbel.forward along the last dimension, with its float operations
    # in the same order, in place where autograd allows
    uniform = uniform_like(x).clamp_(min=1e-12, max=1.0 - 1e-7)
    scores = (x - uniform.log_().neg_().log_()).div_(layer.temperature)
    # the largest score marks the largest probability, and max(dim) took about half the time of argmax
    # on 16 x 256 x 100 values (torch 2.13.0+cpu, one thread)
    return torch.softmax(scores, dim=-1), scores.max(dim=-1).indices


def uniform_like(x: torch.Tensor) -> torch.Tensor:
    """Draw ``torch.rand_like(x)`` on the CPU from 64-bit random words, the values of ``rand`` with each pair swapped.

    ``rand`` makes a float32 from the low 24 bits of one 32-bit draw of the CPU
    generator, and a 64-bit word of ``random_`` is two such draws. Taking both halves
    of each word took two thirds of the time of ``rand`` on 16 x 256 x 100 values
    (torch 2.13.0+cpu, one thread). Other devices and dtypes use ``rand_like``.
    """
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return torch.rand_like(x)
    count = x.numel()
    words = torch.empty((count + 1) // 2, dtype=torch.int64).random_(-(2**63), None)
    halves = words.view(torch.int32)[:count].view(x.shape)
    return torch.bitwise_and(halves, FLOAT_MANTISSA_MASK).to(x.dtype).mul_(2.0**-24)


def _categorical_index(logits: torch.Tensor) -> torch.Tensor:
    """Draw the position of the 1 in a Gumbel-softmax head's hard output, with one uniform number per row.

    The argmax of ``logits + Gumbel noise`` (at any temperature) is distributed as
    ``Categorical(softmax(logits))``, so without gradients an inverse-CDF draw replaces
    the Gumbel noise on every element. On 4096 rows of 100 it took about a quarter of
    the time of the Gumbel draw (torch 2.13.0+cpu, one thread). Returns shape ``(rows, 1)``.
    """
    cumulative = torch.softmax(logits, dim=1).cumsum_(dim=1)
    uniform = torch.rand(len(logits), 1, device=logits.device, dtype=logits.dtype) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, uniform).clamp_(max=logits.shape[1] - 1)


def _categorical_one_hot(logits: torch.Tensor) -> torch.Tensor:
    """Draw the hard one-hot output of a Gumbel-softmax head as :func:`_categorical_index` does."""
    return torch.zeros_like(logits).scatter_(1, _categorical_index(logits), 1.0)


def batched_layers(module: nn.Module) -> list[Layer] | None:
    """Return ``module``'s layers as functions of a stacked batch, or None when a layer has no known batched form."""
    if type(module) not in SEQUENCES:
        return None
    layers: list[Layer] = []
    for name, layer in module.named_children():
        if type(layer) is nn.Linear:
            bias_name = f"{name}.bias" if layer.bias is not None else None
            layers.append(partial(_linear, f"{name}.weight", bias_name))
        elif type(layer) is Affine:
            layers.append(partial(_affine, f"{name}.scale", f"{name}.shift"))
        elif type(layer) is StraightThroughGumbel:
            layers.append(partial(_straight_through_gumbel, layer))
        elif type(layer) in (nn.ReLU, nn.LeakyReLU) and layers and getattr(layers[-1], "func", None) is _linear:
            layers.append(partial(_rectifier, getattr(layer, "negative_slope", 0.0)))
        elif type(layer) in ELEMENTWISE_LAYERS:
            layers.append(partial(_elementwise, layer))
        elif type(layer) is nn.Softmax and layer.dim in (1, -1):
            layers.append(_softmax)
        else:
            return None
    return layers


class StackedNetwork:
    """The weights of K networks of one structure, stacked along a leading seed dimension, and their forward pass.

    ``params`` contains leaf tensors of shape ``(K, *parameter.shape)`` named as in the
    networks' ``named_parameters``, and ``buffers`` likewise. The exceptions are the
    ``nn.Linear`` weights of the batched form, named in ``transposed``, which are
    ``(K, in, out)``; :meth:`parameters_of` returns the networks' own layout. Layers
    such as dropout read their training flag from the first network.
    """

    def __init__(self, modules: list[nn.Module], with_grad: bool = True, batched: bool = True) -> None:
        params, buffers = stack_module_state(modules)
        self.base = modules[0]
        self.layers = batched_layers(self.base) if batched else None
        # Linear weights are stored as (K, in, out) because with nn.Linear's (K, out, in)
        # autograd copied every weight gradient into that layout
        self.transposed = set()
        if self.layers is not None:
            self.transposed = {f"{name}.weight" for name, layer in self.base.named_children() if type(layer) is nn.Linear}
        self.params = {
            name: (p.detach().transpose(1, 2) if name in self.transposed else p.detach())
            .contiguous()
            .requires_grad_(with_grad)
            for name, p in params.items()
        }  # fmt: skip
        self.buffers = buffers

        def call(params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        # randomness="different": every seed draws its own dropout masks
        self._vmapped = vmap(call, randomness="different")

    @property
    def uses_vmap(self) -> bool:
        """Whether the forward pass runs through vmap rather than batched matrix products."""
        return self.layers is None

    @property
    def ends_with_sigmoid(self) -> bool:
        """Whether the batched layers end with ``nn.Sigmoid``, which ``logits=True`` leaves out."""
        return self.layers is not None and isinstance(self.base, SEQUENCES) and type(self.base[-1]) is nn.Sigmoid

    @property
    def one_hot_width(self) -> int | None:
        """The input width when the first batched layer is linear and so accepts one-hot ``rows``, else None."""
        if self.layers is None or getattr(self.layers[0], "func", None) is not _linear:
            return None
        return int(self.params[self.layers[0].args[0]].shape[1])

    @property
    def ends_with_gumbel(self) -> bool:
        """Whether the batched layers end with a straight-through Gumbel head, which :meth:`draw_one_hot` splits."""
        return self.layers is not None and getattr(self.layers[-1], "func", None) is _straight_through_gumbel

    def __call__(
        self, x: torch.Tensor | None, detached: bool = False, logits: bool = False, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Run every seed's network on its own slice ``x[k]``.

        ``detached`` keeps gradients out of the weights, and ``logits`` stops before a
        final sigmoid (see :attr:`ends_with_sigmoid`). ``rows`` gives a one-hot input as
        the ``(K, n, m)`` positions of its ones (see :class:`~ganpat.onehot_input.OneHotLinear`).
        Then ``x`` may be None when no gradient for it is needed, and otherwise must
        equal those one-hot rows.
        """
        params = {name: p.detach() for name, p in self.params.items()} if detached else self.params
        if self.layers is None:
            if logits:
                raise ValueError("logits=True needs batched layers ending with a sigmoid")
            if rows is not None or x is None:
                raise ValueError("one-hot rows need batched layers starting with a linear layer")
            return self._vmapped(params, self.buffers, x)
        layers = self.layers
        if logits:
            if not self.ends_with_sigmoid:
                raise ValueError("logits=True needs batched layers ending with a sigmoid")
            layers = layers[:-1]
        tensors = {**params, **self.buffers}
        if rows is not None:
            if self.one_hot_width is None:
                raise ValueError("one-hot rows need batched layers starting with a linear layer")
            weight_name, bias_name = layers[0].args
            bias = tensors[bias_name] if bias_name is not None else None
            x = OneHotLinear.apply(x, rows, tensors[weight_name], bias)
            layers = layers[1:]
        elif x is None:
            raise ValueError("a stacked network needs an input x or one-hot rows")
        for layer in layers:
            x = layer(x, tensors)
        return x

    def draw_one_hot(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Run a network that ends with a straight-through Gumbel head, stopping before its one-hot output.

        Returns the head's soft probabilities ``(K, b, width)`` and the position of the
        1 in each one-hot output ``(K, b)``. The network's own output is that one-hot
        vector in the forward pass, with the gradient of the probabilities. Without
        gradients the probabilities are None and the positions come from one
        categorical draw per row, which has the same distribution.
        """
        if not self.ends_with_gumbel:
            raise ValueError("draw_one_hot needs batched layers ending with a straight-through Gumbel head")
        tensors = {**self.params, **self.buffers}
        for layer in self.layers[:-1]:  # type: ignore[index]
            x = layer(x, tensors)
        if not (torch.is_grad_enabled() and x.requires_grad):
            seeds, batch, width = x.shape
            return None, _categorical_index(x.reshape(seeds * batch, width)).reshape(seeds, batch)
        head: StraightThroughGumbel = self.layers[-1].args[0]  # type: ignore[index]
        return _gumbel_soft(head, x)

    def keep(self, rows: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Drop the seeds not in ``rows`` (positions in the stack); return (old, new) pairs of parameters."""
        old = list(self.params.values())
        self.params = {name: p.detach()[rows].clone().requires_grad_(p.requires_grad) for name, p in self.params.items()}
        self.buffers = {name: b[rows].clone() for name, b in self.buffers.items()}
        return list(zip(old, self.params.values()))

    def parameters_of(self, row: int) -> dict[str, torch.Tensor]:
        """Return one seed's parameters as views in the layout of the networks' ``named_parameters``."""
        return {name: (p[row].T if name in self.transposed else p[row]) for name, p in self.params.items()}

    def copy_into(self, module: nn.Module, row: int) -> None:
        """Write one seed's weights into an ordinary network of the same structure."""
        own = self.parameters_of(row)
        with torch.no_grad():
            for name, parameter in module.named_parameters():
                parameter.copy_(own[name])
