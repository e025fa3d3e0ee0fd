"""Stacked networks: batched layers against each network alone, the vmap fallback and the one-hot shortcut."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganpat.builtin.networks import Affine, StraightThroughGumbel, UniformDropout
from ganpat.stacked import StackedNetwork, _categorical_one_hot


def networks(count: int, build) -> list[nn.Module]:
    built = []
    for seed in range(count):
        torch.manual_seed(seed)
        built.append(build())
    return built


def discriminator() -> nn.Module:
    return nn.Sequential(
        Affine([0.5, 2.0], [1.0, -1.0]),
        nn.Linear(2, 8), nn.LeakyReLU(0.2),
        nn.Linear(8, 8), nn.SiLU(),
        nn.Linear(8, 1), nn.Sigmoid(),
    )  # fmt: skip


def test_batched_layers_match_each_network():
    modules = networks(3, discriminator)
    stack = StackedNetwork(modules)
    assert not stack.uses_vmap
    assert stack.ends_with_sigmoid
    x = torch.randn(3, 5, 2)

    out = stack(x)
    logits = stack(x, logits=True)
    for row, module in enumerate(modules):
        torch.testing.assert_close(out[row], module(x[row]))
        torch.testing.assert_close(logits[row], module[:-1](x[row]))


def test_batched_gradients_match_each_network():
    modules = networks(3, discriminator)
    stack = StackedNetwork(modules)
    x = torch.randn(3, 5, 2)

    stack(x).sum().backward()
    for row, module in enumerate(modules):
        module(x[row]).sum().backward()
        for name, parameter in module.named_parameters():
            gradient = stack.params[name].grad[row]
            expected = parameter.grad.T if name in stack.transposed else parameter.grad
            torch.testing.assert_close(gradient, expected, msg=name)


def test_detached_call_gives_no_weight_gradients():
    stack = StackedNetwork(networks(2, discriminator))
    x = torch.randn(2, 4, 2, requires_grad=True)
    stack(x, detached=True).sum().backward()
    assert x.grad is not None
    assert all(p.grad is None for p in stack.params.values())


def test_unknown_layer_falls_back_to_vmap():
    modules = networks(3, lambda: nn.Sequential(nn.Linear(2, 6), nn.LayerNorm(6), nn.Linear(6, 1)))
    stack = StackedNetwork(modules)
    assert stack.uses_vmap
    x = torch.randn(3, 5, 2)
    out = stack(x)
    for row, module in enumerate(modules):
        torch.testing.assert_close(out[row], module(x[row]))


def test_copy_into_restores_layout():
    modules = networks(2, discriminator)
    stack = StackedNetwork(modules)
    target = discriminator()
    stack.copy_into(target, 1)
    for (name, copied), original in zip(target.named_parameters(), modules[1].parameters()):
        assert torch.equal(copied, original), name


def test_keep_selects_rows():
    modules = networks(3, discriminator)
    stack = StackedNetwork(modules)
    stack.keep(torch.tensor([0, 2]))
    x = torch.randn(2, 4, 2)
    out = stack(x)
    torch.testing.assert_close(out[1], modules[2](x[1]))


def test_categorical_one_hot_follows_softmax():
    """Without gradients the Gumbel head's draw is Categorical(softmax(logits)), as the Gumbel-max trick gives."""
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 0.0, -1.0, 1.0, 0.5]])
    rows = 40_000
    draws = _categorical_one_hot(logits.expand(rows, -1))
    assert torch.equal(draws.sum(dim=1), torch.ones(rows))
    frequencies = draws.mean(dim=0)
    expected = torch.softmax(logits[0], dim=0)
    # four standard errors of a frequency estimated from 40,000 draws
    tolerance = 4 * (expected * (1 - expected) / rows).sqrt()
    assert torch.all((frequencies - expected).abs() < tolerance), (frequencies, expected)

    head = StraightThroughGumbel(3.0)
    with torch.no_grad():
        gumbel_frequencies = head(logits.expand(rows, -1)).mean(dim=0)
    assert torch.all((gumbel_frequencies - expected).abs() < tolerance), (gumbel_frequencies, expected)


@pytest.mark.parametrize("grad", [True, False])
def test_gumbel_head_emits_one_hot(grad):
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 6), StraightThroughGumbel(2.0)))
    stack = StackedNetwork(modules)
    x = torch.randn(2, 7, 3)
    with torch.set_grad_enabled(grad):
        out = stack(x)
    assert out.shape == (2, 7, 6)
    torch.testing.assert_close(out.sum(dim=-1), torch.ones(2, 7))
    assert torch.all((out - out.round()).abs() < 1e-5)
    if grad:
        out[..., 0].sum().backward()
        assert stack.params["0.weight"].grad.abs().sum() > 0


def test_gumbel_head_matches_module_on_same_draw():
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 6), StraightThroughGumbel(2.0)))
    stack = StackedNetwork(modules)
    x = torch.randn(2, 7, 3)
    torch.manual_seed(5)
    out = stack(x)
    out[..., 1].sum().backward()

    # the module alone on both seeds' rows, with the same weights and the same uniform draw
    logits = torch.cat([modules[row][0](x[row]) for row in range(2)]).detach().requires_grad_(True)
    torch.manual_seed(5)
    expected = modules[0][1](logits)
    expected[:, 1].sum().backward()
    torch.testing.assert_close(out.reshape(14, 6), expected)
    weight_gradient = stack.params["0.weight"].grad[0]
    torch.testing.assert_close(weight_gradient, x[0].T @ logits.grad[:7])


def test_dropout_matches_module_on_same_draw():
    dropout = UniformDropout(0.3)
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 64), dropout))
    stack = StackedNetwork(modules)
    assert not stack.uses_vmap
    x = torch.randn(2, 5, 3)
    torch.manual_seed(11)
    out = stack(x)
    hidden = torch.stack([modules[row][0](x[row]) for row in range(2)])
    torch.manual_seed(11)
    expected = dropout(hidden)
    torch.testing.assert_close(out, expected)
    assert 0 < (out == 0).float().mean() < 0.6
