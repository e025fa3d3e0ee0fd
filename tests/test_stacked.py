"""Stacked networks: batched layers against each network alone, the vmap fallback and the one-hot shortcut."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganpat.builtin.networks import Affine, StraightThroughGumbel, UniformDropout
from ganpat.onehot_input import dense_rows, one_hot_index, packed_rows
from ganpat.stacked import StackedNetwork, _categorical_one_hot, uniform_like


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


def test_vmap_fallback_gumbel_head_carries_gradient():
    """Under vmap the head must take its straight-through branch, whose gradient reaches every seed's weights."""
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 6), StraightThroughGumbel(2.0)))
    stack = StackedNetwork(modules, batched=False)
    assert stack.uses_vmap
    out = stack(torch.randn(2, 7, 3))
    assert out.requires_grad
    (out * torch.arange(6.0)).sum().backward()
    gradient = stack.params["0.weight"].grad
    assert gradient is not None
    for row in range(2):
        assert gradient[row].abs().sum() > 0


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


def test_gumbel_head_matches_module_on_same_draw(monkeypatch):
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 6), StraightThroughGumbel(2.0)))
    stack = StackedNetwork(modules)
    x = torch.randn(2, 7, 3)
    torch.manual_seed(5)
    out = stack(x)
    out[..., 1].sum().backward()

    # the module alone on both seeds' rows, with the same weights and the same uniform draw
    logits = torch.cat([modules[row][0](x[row]) for row in range(2)]).detach().requires_grad_(True)
    torch.manual_seed(5)
    monkeypatch.setattr(torch, "rand_like", uniform_like)
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


def one_hot_discriminator() -> nn.Module:
    return nn.Sequential(nn.Linear(12, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))


def one_hot_batch(seeds: int, rows: int, pack: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return packed one-hot rows (seeds, rows, pack * width) and the positions of their ones."""
    index = torch.randint(width, (seeds, rows * pack))
    positions = packed_rows(index, pack, width)
    return dense_rows(positions, pack * width), positions


def test_one_hot_rows_match_dense_input():
    modules = networks(3, one_hot_discriminator)
    dense, positions = one_hot_batch(3, 5, pack=3, width=4)
    assert positions.shape == (3, 5, 3)
    assert torch.equal(dense.sum(dim=-1), torch.full((3, 5), 3.0))

    by_rows = StackedNetwork(modules)
    assert by_rows.one_hot_width == 12
    out = by_rows(None, rows=positions)
    out.sum().backward()
    by_product = StackedNetwork(modules)
    expected = by_product(dense)
    expected.sum().backward()
    torch.testing.assert_close(out, expected)
    for name, parameter in by_rows.params.items():
        torch.testing.assert_close(parameter.grad, by_product.params[name].grad, msg=name)


def test_one_hot_rows_pass_input_gradient():
    """A detached call with one-hot rows gives the dense input the gradient of the dense product."""
    modules = networks(2, one_hot_discriminator)
    stack = StackedNetwork(modules)
    dense, positions = one_hot_batch(2, 4, pack=3, width=4)
    through_rows = dense.clone().requires_grad_(True)
    stack(through_rows, detached=True, rows=positions).square().sum().backward()
    through_product = dense.clone().requires_grad_(True)
    stack(through_product, detached=True).square().sum().backward()
    torch.testing.assert_close(through_rows.grad, through_product.grad)
    assert all(p.grad is None for p in stack.params.values())


def test_one_hot_rows_need_linear_first_layer():
    stack = StackedNetwork(networks(2, discriminator))
    assert stack.one_hot_width is None
    with pytest.raises(ValueError, match="linear layer"):
        stack(None, rows=torch.zeros(2, 3, 1, dtype=torch.long))


def test_one_hot_index_finds_positions():
    index = torch.randint(7, (3, 5))
    samples = nn.functional.one_hot(index, 7).float()
    assert torch.equal(one_hot_index(samples), index)


@pytest.mark.parametrize("change", ["scaled", "second one", "empty row", "nan", "tiny"])
def test_one_hot_index_rejects_other_samples(change):
    samples = nn.functional.one_hot(torch.tensor([[1, 4], [0, 2]]), 5).float()
    if change == "scaled":
        samples[0, 1, 4] = 0.999
    elif change == "second one":
        samples[1, 0, 3] = 1.0
    elif change == "empty row":
        samples[1, 1, 2] = 0.0
    elif change == "nan":
        samples[0, 0, 0] = float("nan")
    else:
        samples[1, 1, 0] = 1e-30
    assert one_hot_index(samples) is None


def test_draw_one_hot_matches_gumbel_head():
    """draw_one_hot's positions and probabilities are the straight-through head's on the same draw."""
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 6), StraightThroughGumbel(2.0)))
    stack = StackedNetwork(modules)
    assert stack.ends_with_gumbel
    x = torch.randn(2, 7, 3)

    torch.manual_seed(5)
    soft, index = stack.draw_one_hot(x)
    soft[..., 1].sum().backward()
    torch.manual_seed(5)
    out = stack(x)
    assert torch.equal(index, out.argmax(dim=-1))
    torch.testing.assert_close(nn.functional.one_hot(index, 6).float(), out)

    # the head's output has the gradient of its probabilities
    gradient = stack.params["0.weight"].grad.clone()
    stack.params["0.weight"].grad = None
    out[..., 1].sum().backward()
    torch.testing.assert_close(stack.params["0.weight"].grad, gradient)


def test_draw_one_hot_without_gradients_is_categorical():
    modules = networks(2, lambda: nn.Sequential(nn.Linear(3, 6), StraightThroughGumbel(2.0)))
    stack = StackedNetwork(modules)
    x = torch.randn(2, 7, 3)
    torch.manual_seed(8)
    with torch.no_grad():
        soft, index = stack.draw_one_hot(x)
        torch.manual_seed(8)
        out = stack(x)
    assert soft is None
    assert torch.equal(nn.functional.one_hot(index, 6).float(), out)


def test_uniform_like_gives_rand_values():
    """uniform_like draws the same float32 values as torch.rand, in pairs swapped."""
    like = torch.empty(3, 7)
    torch.manual_seed(4)
    expected = torch.rand(22)
    torch.manual_seed(4)
    drawn = uniform_like(like)
    assert drawn.shape == (3, 7)
    swapped = expected.view(11, 2).flip(1).reshape(-1)[:21]
    assert torch.equal(drawn.reshape(-1), swapped)
    assert drawn.dtype == torch.float32


@pytest.mark.parametrize("outputs", [1, 2, 8, 9])
def test_linear_widths_match_each_network(outputs):
    """Every form of the batched linear layer (one column, narrow, wide) matches nn.Linear."""
    modules = networks(3, lambda: nn.Sequential(nn.Linear(5, outputs)))
    stack = StackedNetwork(modules)
    x = torch.randn(3, 6, 5, requires_grad=True)
    out = stack(x)
    out.square().sum().backward()
    for row, module in enumerate(modules):
        alone = x[row].detach().requires_grad_(True)
        expected = module(alone)
        torch.testing.assert_close(out[row], expected)
        expected.square().sum().backward()
        torch.testing.assert_close(x.grad[row], alone.grad)
        torch.testing.assert_close(stack.params["0.weight"].grad[row], module[0].weight.grad.T)
        torch.testing.assert_close(stack.params["0.bias"].grad[row], module[0].bias.grad)
