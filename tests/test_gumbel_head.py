"""The straight-through Gumbel head: exact one-hot samples without gradients, the soft gradient with them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganpat.builtin.networks import StraightThroughGumbel
from ganpat.persistence import quiet_jit


def head_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 12), StraightThroughGumbel(3.0))


def draw(network: nn.Module, z: torch.Tensor, seed: int, grad: bool) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.set_grad_enabled(grad):
        return network(z)


@pytest.mark.parametrize("scripted", [False, True])
def test_sample_without_gradient_is_exactly_one_hot(scripted):
    network = head_network()
    if scripted:
        with quiet_jit():
            network = torch.jit.script(network)
    z = torch.randn(500, 4)
    hard = draw(network, z, seed=3, grad=False)
    assert not hard.requires_grad
    assert torch.equal(hard.sum(dim=1), torch.ones(500))
    assert bool(((hard == 0) | (hard == 1)).all())

    # the same random draw with gradients picks the same positions and carries a gradient to the weights
    straight = draw(network, z, seed=3, grad=True)
    assert straight.requires_grad
    assert torch.equal(straight.argmax(dim=1), hard.argmax(dim=1))
    torch.testing.assert_close(straight.detach(), hard)
    (straight * torch.arange(12.0)).sum().backward()
    for parameter in network.parameters():
        assert parameter.grad is not None
        assert parameter.grad.abs().sum() > 0
