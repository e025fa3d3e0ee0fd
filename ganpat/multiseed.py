"""Many seeds at once: K independent GANs trained as one batched model.

Each seed gets its own :class:`~ganpat.engine.Trainer`, which builds its networks,
training set and check noise exactly as ``ganpat train --seed s`` does. The
weights of all seeds are then stacked with ``torch.func.stack_module_state`` and
every forward pass runs through ``vmap`` over ``functional_call``, so one call does
the arithmetic of K models. Adam is elementwise, so one optimizer over the stacked
weights keeps a separate state for every seed. Losses are summed over seeds, which
gives each seed exactly the gradient of its own loss.

Quality checks copy one seed's weights back into its Trainer and reuse the
Trainer's own check and early-stopping bookkeeping. A seed that stops (target,
patience or divergence) leaves the stack, so the remaining seeds train faster.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ganpat import losses, plugins
from ganpat.architecture import Architecture
from ganpat.engine import CheckRecord, Trainer, TrainResult, adam_options
from ganpat.errors import GanpatError, UsageProblem
from ganpat.pattern import Pattern
from ganpat.persistence import atomic_write, save_torchscript
from ganpat.recipe import Recipe
from ganpat.training import TrainRequest, build_metadata, build_recipe, default_model_path, log_path_for

MAX_SEEDS = 1024
SEEDS_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seeds(text: str) -> list[int]:
    """Parse ``--seeds``: a count K (seeds 0..K-1), a range ``A-B`` (inclusive) or a comma list of both."""
    seeds: list[int] = []
    parts = [part.strip() for part in text.split(",")]
    for part in parts:
        found = SEEDS_RE.fullmatch(part)
        if found is None:
            raise UsageProblem(f"invalid --seeds {text!r}; use a count such as 16, a range such as 0-15, or 1,5,9")
        first, last = found.groups()
        if last is None and len(parts) == 1:
            seeds += range(int(first))
        elif last is None:
            seeds.append(int(first))
        else:
            if int(last) < int(first):
                raise UsageProblem(f"invalid --seeds range {part!r}: the end is below the start; write it as low-high")
            seeds += range(int(first), int(last) + 1)
    if not seeds:
        raise UsageProblem(f"--seeds {text!r} selects no seeds; give a count of at least 1")
    if len(set(seeds)) != len(seeds):
        raise UsageProblem(f"--seeds {text!r} names a seed twice; list each seed once")
    if len(seeds) > MAX_SEEDS:
        raise UsageProblem(f"--seeds {text!r} selects {len(seeds)} seeds; the maximum is {MAX_SEEDS}")
    return seeds


class Stack:
    """The stacked weights of one network across seeds, its batched forward pass and its optimizer."""

    def __init__(self, modules: list[nn.Module], recipe: Recipe, lr: float, with_grad: bool = True) -> None:
        params, buffers = stack_module_state(modules)
        self.base = modules[0]
        self.params = {name: p.detach().clone().requires_grad_(with_grad) for name, p in params.items()}
        self.buffers = buffers
        self.optimizer: torch.optim.Optimizer | None = None
        if with_grad:
            device = next(iter(self.params.values())).device
            self.optimizer = torch.optim.Adam(self.params.values(), lr=lr, betas=recipe.betas, **adam_options(device))

        def call(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        # randomness="different": every seed draws its own dropout masks
        self._forward = vmap(call, randomness="different")

    def __call__(self, x: torch.Tensor, detached: bool = False) -> torch.Tensor:
        """Run every seed's network on its own slice ``x[k]``; ``detached`` keeps gradients out of the weights."""
        params = {name: p.detach() for name, p in self.params.items()} if detached else self.params
        return self._forward(params, self.buffers, x)

    def keep(self, rows: torch.Tensor) -> None:
        """Drop the seeds not in ``rows`` (positions in the stack) from weights, buffers and optimizer state."""
        old = list(self.params.values())
        self.params = {name: p.detach()[rows].clone().requires_grad_(p.requires_grad) for name, p in self.params.items()}
        self.buffers = {name: b[rows].clone() for name, b in self.buffers.items()}
        if self.optimizer is None:
            return
        previous = self.optimizer
        self.optimizer = torch.optim.Adam(self.params.values(), **previous.defaults)
        self.optimizer.param_groups[0]["lr"] = previous.param_groups[0]["lr"]
        for old_param, new_param in zip(old, self.params.values()):
            state = previous.state.get(old_param)
            if not state:
                continue
            self.optimizer.state[new_param] = {
                key: (value[rows].clone() if torch.is_tensor(value) and value.dim() > 0 else value)
                for key, value in state.items()
            }

    def copy_into(self, module: nn.Module, row: int) -> None:
        """Write one seed's weights into an ordinary module of the same structure."""
        with torch.no_grad():
            for name, parameter in module.named_parameters():
                parameter.copy_(self.params[name][row])


def _per_seed_mean(values: torch.Tensor) -> torch.Tensor:
    return values.flatten(1).mean(dim=1)


class MultiSeedTrainer:
    """Trains one GAN per seed in lockstep, with per-seed optimizer state and early stopping."""

    def __init__(
        self,
        pattern: Pattern,
        architecture: Architecture,
        recipe: Recipe,
        seeds: list[int],
        device: torch.device | str = "cpu",
        callbacks: list[Any] | None = None,
    ) -> None:
        self.pattern = pattern
        self.recipe = recipe
        self.seeds = list(seeds)
        self.device = torch.device(device)
        self.callbacks = list(callbacks or [])
        self.members = [Trainer(pattern, architecture, recipe, seed=s, device=device) for s in seeds]
        if recipe.arch_options.get("spectral_norm", False):
            raise UsageProblem("--seeds does not support spectral_norm networks; train each seed with --seed instead")
        first = self.members[0]
        self.probability_output = first.probability_output
        self.latent_size = first.latent_size
        self.batch_size = first.batch_size
        self.steps_per_epoch = first.steps_per_epoch
        self.sample_dim = first.sample_dim
        self.generator = Stack([m.generator for m in self.members], recipe, recipe.lr_g)
        self.discriminator = Stack([m.discriminator for m in self.members], recipe, recipe.lr_d)
        self.ema: Stack | None = None
        if first.ema is not None:
            self.ema = Stack([m.ema for m in self.members if m.ema is not None], recipe, 0.0, with_grad=False)
        # a fixed training set per seed, or None when every step draws fresh real samples
        self.data: torch.Tensor | None = None
        if not first.fresh_data:
            self.data = torch.stack([m.data for m in self.members if m.data is not None])
        # positions in self.members of the seeds still training, in stack order
        self.active = list(range(len(self.members)))
        self.stop_reasons: dict[int, str] = {}
        self.epoch = 0
        self.step = 0

    # losses per seed: each returns a vector with one loss per stacked seed

    def _d_loss(self, d_real: torch.Tensor | None, d_fake: torch.Tensor | None) -> torch.Tensor:
        total = torch.zeros(len(self.active), device=self.device)
        if d_real is not None:
            total = total + _per_seed_mean(losses.real_term(d_real, self.recipe.loss, self.probability_output))
        if d_fake is not None:
            total = total + _per_seed_mean(losses.fake_term(d_fake, self.recipe.loss, self.probability_output))
        return total

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return _per_seed_mean(losses.generator_term(d_fake, self.recipe.loss, self.probability_output))

    # one optimizer step of every seed's networks

    def _pack(self, samples: torch.Tensor) -> torch.Tensor:
        return samples.reshape(len(samples), -1, self.recipe.pack * self.sample_dim)

    def _noise(self) -> torch.Tensor:
        return torch.randn(len(self.active), self.batch_size, self.latent_size, device=self.device)

    @staticmethod
    def _optimize(stack: Stack, loss: torch.Tensor) -> None:
        assert stack.optimizer is not None
        stack.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        stack.optimizer.step()

    def _train_step(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        generator, discriminator = self.generator, self.discriminator
        for _ in range(self.recipe.n_critic):
            with torch.no_grad():
                fake = generator(self._noise())
            if self.recipe.separate_d_steps:
                d_loss_real = self._d_loss(discriminator(self._pack(real)), None)
                self._optimize(discriminator, d_loss_real)
                d_loss_fake = self._d_loss(None, discriminator(self._pack(fake)))
                self._optimize(discriminator, d_loss_fake)
                d_loss = d_loss_real.detach() + d_loss_fake.detach()
            else:
                d_out = discriminator(torch.cat([self._pack(real), self._pack(fake)], dim=1))
                half = d_out.shape[1] // 2
                d_loss = self._d_loss(d_out[:, :half], d_out[:, half:])
                self._optimize(discriminator, d_loss)
                d_loss = d_loss.detach()

        # the discriminator's weights need no gradient in the generator's step
        g_loss = self._g_loss(discriminator(self._pack(generator(self._noise())), detached=True))
        self._optimize(generator, g_loss)
        if self.ema is not None:
            with torch.no_grad():
                ema_params = list(self.ema.params.values())
                torch._foreach_lerp_(ema_params, [p.detach() for p in generator.params.values()], 1.0 - self.recipe.ema_decay)
        return d_loss, g_loss.detach()

    def _real_batches(self) -> Any:
        if self.data is not None and not self.members[0].fresh_data:
            orders = torch.stack([
                torch.randperm(self.data.shape[1], generator=self.members[i].data_generator) for i in self.active
            ]).to(self.device)  # fmt: skip
            rows = torch.arange(len(self.active), device=self.device)[:, None]
            for index in range(self.steps_per_epoch):
                yield self.data[rows, orders[:, index * self.batch_size : (index + 1) * self.batch_size]]
            return
        for _ in range(self.steps_per_epoch):
            yield torch.stack([self.members[i]._real_samples(self.batch_size) for i in self.active]).to(self.device)

    def _train_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        factor = self.members[0]._lr_factor(self.epoch)
        for stack, lr in ((self.generator, self.recipe.lr_g), (self.discriminator, self.recipe.lr_d)):
            assert stack.optimizer is not None
            stack.optimizer.param_groups[0]["lr"] = lr * factor
        d_sum = torch.zeros(len(self.active), device=self.device)
        g_sum = torch.zeros(len(self.active), device=self.device)
        for real in self._real_batches():
            d_loss, g_loss = self._train_step(real)
            d_sum += d_loss
            g_sum += g_loss
            self.step += 1
        return d_sum, g_sum

    # checks and early stopping, per seed

    def _check_seed(self, row: int, d_loss: float, g_loss: float, started: float) -> str | None:
        """Check one seed through its own Trainer; return why it stops, or None."""
        member = self.members[self.active[row]]
        member.epoch, member.step = self.epoch, self.step
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            return "diverged"
        self.generator.copy_into(member.generator, row)
        if self.ema is not None and member.ema is not None:
            self.ema.copy_into(member.ema, row)
        record: CheckRecord = member._check(d_loss, g_loss, started)
        self._emit("on_check", member, record)
        if self.recipe.target_hold and member.target_streak >= self.recipe.target_hold:
            return "target"
        if member.epoch - member.last_improvement >= self.recipe.patience:
            return "patience"
        return None

    def run(self) -> list[TrainResult | None]:
        """Train until every seed has stopped; return one result per seed, None for a seed that diverged."""
        recipe = self.recipe
        started = time.perf_counter()
        self._emit("on_start")
        try:
            while self.active and self.epoch < recipe.epochs:
                d_sum, g_sum = self._train_epoch()
                self.epoch += 1
                if self.epoch % recipe.check_every == 0 or self.epoch >= recipe.epochs:
                    d_means = (d_sum / self.steps_per_epoch).tolist()
                    g_means = (g_sum / self.steps_per_epoch).tolist()
                    keep = []
                    for row, index in enumerate(self.active):
                        reason = self._check_seed(row, d_means[row], g_means[row], started)
                        if reason is None:
                            keep.append(row)
                        else:
                            self.stop_reasons[index] = reason
                    if len(keep) < len(self.active):
                        self._keep(keep)
                self._emit("on_epoch_end")
        except KeyboardInterrupt:
            for index in self.active:
                self.stop_reasons[index] = "interrupted"
            self.active = []
        for index in self.active:
            self.stop_reasons[index] = "epochs"
        return [self._result(i, started) for i in range(len(self.members))]

    def _keep(self, rows: list[int]) -> None:
        self.active = [self.active[row] for row in rows]
        if not rows:
            return
        index = torch.tensor(rows, device=self.device)
        for stack in (self.generator, self.discriminator, self.ema):
            if stack is not None:
                stack.keep(index)
        if self.data is not None:
            self.data = self.data[index]

    def _result(self, index: int, started: float) -> TrainResult | None:
        member = self.members[index]
        reason = self.stop_reasons[index]
        if member.best_state is None or not math.isfinite(member.best_score):
            return None
        return member._result(reason, reason == "interrupted", started)

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            method: Callable[..., None] | None = getattr(callback, event, None)
            if method is not None:
                method(self, *args)


@dataclass
class SeedOutcome:
    """One seed's training result (None when it diverged) and the file it was saved to, if any."""

    seed: int
    result: TrainResult | None
    path: Path | None = None


@dataclass
class MultiSeedOutcome:
    seeds: list[SeedOutcome]
    best: SeedOutcome
    path: Path
    elapsed: float


def best_seed(outcomes: list[SeedOutcome]) -> SeedOutcome:
    """Return the seed that met the target with the best score, else the one with the best score."""
    finished = [o for o in outcomes if o.result is not None]
    if not finished:
        raise GanpatError("every seed diverged: its losses became NaN or infinite; try a lower --lr")
    return max(finished, key=lambda o: (o.result.target_met, o.result.best_score))  # type: ignore[union-attr]


def seed_file(out: Path, seed: int) -> Path:
    """Return where ``--save-all`` writes one seed: ``files/PATTERN/seed-NN.pt`` for ``--out files/PATTERN.pt``."""
    return out.with_suffix("") / f"seed-{seed:02d}{out.suffix or '.pt'}"


def train_seeds(request: TrainRequest, seeds: list[int], save_all: bool, callbacks: list[Any] | None = None) -> MultiSeedOutcome:
    """Train one GAN per seed at once, save the best to ``request.out`` and, with ``save_all``, every seed."""
    from ganpat.devices import resolve_device

    if request.resume:
        raise UsageProblem("--resume does not work with --seeds; resume a single seed with --seed")
    pattern = plugins.registry().pattern(request.pattern)
    recipe = build_recipe(pattern, request)
    architecture = plugins.registry().architecture(recipe.architecture)
    device = resolve_device(request.device)
    out = request.out or default_model_path(pattern.name)
    if out.is_dir():
        raise UsageProblem(f"--out {out} is a folder; give a file name such as {out / (pattern.name + '.pt')}")
    try:
        trainer = MultiSeedTrainer(pattern, architecture, recipe, seeds, device, callbacks)
    except (ValueError, TypeError) as error:
        raise UsageProblem(f"cannot build {recipe.architecture} for {pattern.name}: {error}") from None
    started = time.perf_counter()
    results = trainer.run()
    outcomes = [SeedOutcome(seed, result) for seed, result in zip(seeds, results)]
    best = best_seed(outcomes)

    def save(outcome: SeedOutcome, path: Path) -> None:
        assert outcome.result is not None
        seed_request = dataclasses.replace(request, seed=outcome.seed)
        log_path = log_path_for(path)
        metadata = build_metadata(pattern, recipe, seed_request, outcome.result, log_path, device)
        metadata["seeds_trained"] = list(seeds)
        lines = "".join(json.dumps(record.to_dict()) + "\n" for record in outcome.result.history)
        save_torchscript(outcome.result.generator, path, metadata)
        atomic_write(log_path, lambda temporary: temporary.write_text(lines, encoding="utf-8"))
        outcome.path = path

    if save_all:
        for outcome in outcomes:
            if outcome.result is not None:
                save(outcome, seed_file(out, outcome.seed))
    best_path = best.path
    save(best, out)
    if save_all:
        best.path = best_path
    return MultiSeedOutcome(outcomes, best, out, time.perf_counter() - started)
