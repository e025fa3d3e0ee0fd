"""Optimizer steps for the training loops: Adam options per device, a direct fused Adam step, and gradient helpers."""

from __future__ import annotations

import torch


def adam_options(device: torch.device) -> dict[str, bool]:
    """Return Adam's implementation options for ``device``.

    The fused kernel updates all parameters in one call. On the book's curve
    discriminator it took about a third of the time of the default per-parameter
    loop (torch 2.13.0+cpu, 2-core x86_64, one thread).
    """
    if device.type in ("cpu", "cuda"):
        return {"fused": True}
    return {"foreach": True}


def adam_step(optimizer: torch.optim.Optimizer) -> None:
    """Take one step of ``optimizer``, calling the fused Adam kernel directly when possible.

    On the book's curve discriminator, ``Optimizer.step`` took about twice as long as
    this direct call (torch 2.13.0+cpu, 2-core x86_64, one thread). This path keeps its
    state in ``optimizer.state`` as ``step`` does, so checkpoints are unchanged. It falls
    back to ``optimizer.step()`` for the first step, which creates that state, for a
    parameter without a gradient, and for options it does not handle.
    """
    groups = optimizer.param_groups
    group = groups[0]
    direct = (
        isinstance(optimizer, torch.optim.Adam)
        and len(groups) == 1
        and group.get("fused")
        and not group["amsgrad"]
        and not group["maximize"]
        and not group.get("decoupled_weight_decay", False)
        and group["weight_decay"] == 0
    )
    if not direct:
        optimizer.step()
        return
    params = group["params"]
    grads = [p.grad for p in params]
    states = [optimizer.state.get(p) for p in params]
    if any(g is None for g in grads) or not all(states):
        optimizer.step()
        return

    # NOTE: torch._fused_adam_ is a private op. These two calls follow _fused_adam in
    # torch/optim/adam.py of torch 2.13; recheck them when the torch version changes.
    steps = [state["step"] for state in states]
    beta1, beta2 = group["betas"]
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params,
        grads,
        [state["exp_avg"] for state in states],
        [state["exp_avg_sq"] for state in states],
        [],
        steps,
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=0.0,
        eps=group["eps"],
        amsgrad=False,
        maximize=False,
    )


def clear_grads(params: list[torch.Tensor]) -> None:
    """Set the gradients of ``params`` to None, as ``zero_grad(set_to_none=True)`` does
    without the optimizer's per-call profiler record."""
    for param in params:
        param.grad = None


def set_requires_grad(params: list[torch.Tensor], flag: bool) -> None:
    """Set ``requires_grad`` on each of ``params``, a cached list that is faster to walk than a module tree."""
    for param in params:
        param.requires_grad_(flag)
