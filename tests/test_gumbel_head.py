"""The straight-through Gumbel head: exact one-hot samples without gradients, the soft gradient with them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganpat.builtin.networks import StraightThroughGumbel
from ganpat.metrics import INVALID, decode_onehot
from ganpat.persistence import load_generator, quiet_jit, save_torchscript


def head_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 12), StraightThroughGumbel(3.0))


def draw(network: nn.Module, z: torch.Tensor, seed: int, grad: bool) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.set_grad_enabled(grad):
        return network(z)


@pytest.mark.parametrize("scripted", [False, True])
def test_no_grad_sample_exactly_one_hot(scripted):
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


def test_non_finite_logits_decode_invalid():
    logits = torch.randn(5, 8)
    logits[1, 2] = float("nan")
    logits[2] = float("-inf")
    logits[3, 1] = float("inf")
    with torch.no_grad():
        out = StraightThroughGumbel(3.0)(logits)
    assert decode_onehot(out).tolist()[1:4] == [INVALID, INVALID, INVALID]
    assert decode_onehot(out[[0, 4]]).min() >= 0


def test_nan_generator_writes_invalid(onehot_model, ganpat_cli, tmp_path):
    """A saved one-hot generator whose output layer turned NaN must not generate the value 0."""
    loaded = load_generator(onehot_model)
    with torch.no_grad():
        for name, parameter in loaded.module.named_parameters():
            if name.endswith("bias"):
                parameter.fill_(float("nan"))
    broken = tmp_path / "nan.pt"
    save_torchscript(loaded.module, broken, loaded.metadata)
    generated = ganpat_cli("generate", broken, "-n", "4")
    assert generated.exit_code == 0, generated.output
    assert generated.stdout.split() == ["value"] + ["invalid"] * 4
