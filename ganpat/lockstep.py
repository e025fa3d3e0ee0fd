"""Lockstep training: K independent GANs, one per seed, trained as one batched model.

Each seed gets its own :class:`~ganpat.engine.Trainer`, which builds its networks,
training set and check noise exactly as ``ganpat train --seed s`` does. The
weights of all seeds are then stacked in a :class:`~ganpat.stacked.StackedNetwork`,
so one call does the arithmetic of K models. Adam is elementwise, so one optimizer
over the stacked weights keeps a separate state for every seed, and all seeds share
the learning-rate schedule because they share the epoch count. Losses are summed
over seeds, which gives each seed exactly the gradient of its own loss.

A generator that ends with a straight-through Gumbel head hands its one-hot samples
to the discriminator as the positions of their ones (:mod:`ganpat.onehot_input`),
and real one-hot batches go the same way. In the generator's step the discriminator
then receives the exact one-hot vectors, where a single run computes ``hard - soft + soft``,
so the two differ by float rounding only.

Quality checks copy one seed's weights back into its Trainer and reuse the
Trainer's own check and early-stopping bookkeeping. A seed that stops (target,
patience or divergence) leaves the stack with its optimizer state, so it stops
changing and the remaining seeds train faster.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterator

import torch

from ganpat import losses
from ganpat.architecture import Architecture
from ganpat.optimizer import adam_options, adam_step, clear_grads
from ganpat.engine import CheckRecord, Trainer, TrainResult
from ganpat.errors import InvalidSamples, UsageProblem
from ganpat.onehot_input import dense_rows, one_hot_index, packed_rows
from ganpat.pattern import Pattern
from ganpat.recipe import Recipe
from ganpat.stacked import StackedNetwork


def _adam(stack: StackedNetwork, recipe: Recipe, lr: float) -> torch.optim.Adam:
    device = next(iter(stack.params.values())).device
    return torch.optim.Adam(stack.params.values(), lr=lr, betas=recipe.betas, **adam_options(device))


def _keep_optimizer_rows(
    optimizer: torch.optim.Adam, pairs: list[tuple[torch.Tensor, torch.Tensor]], rows: torch.Tensor
) -> torch.optim.Adam:
    """Return an Adam over the new parameters of ``pairs`` whose state is the old state's ``rows``."""
    selected = torch.optim.Adam([new for _, new in pairs], **optimizer.defaults)
    selected.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"]
    for old, new in pairs:
        state = optimizer.state.get(old)
        if state:
            selected.state[new] = {
                key: (value[rows].clone() if torch.is_tensor(value) and value.dim() > 0 else value)
                for key, value in state.items()
            }
    return selected


def _per_seed_mean(values: torch.Tensor) -> torch.Tensor:
    return values.flatten(1).mean(dim=1)


class MultiSeedTrainer:
    """Trains one GAN per seed in lockstep, with per-seed optimizer state and early stopping.

    ``batched=False`` runs every network through vmap, as networks without a batched
    form always do. The benchmark uses it to compare the two.
    """

    def __init__(
        self,
        pattern: Pattern,
        architecture: Architecture,
        recipe: Recipe,
        seeds: list[int],
        device: torch.device | str = "cpu",
        callbacks: list[Any] | None = None,
        batched: bool = True,
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

        # stacked networks, and one Adam per network whose elementwise state is per seed
        self.generator = StackedNetwork([m.generator for m in self.members], batched=batched)
        self.discriminator = StackedNetwork([m.discriminator for m in self.members], batched=batched)
        self.opt_g = _adam(self.generator, recipe, recipe.lr_g)
        self.opt_d = _adam(self.discriminator, recipe, recipe.lr_d)
        # A final sigmoid is left out and the bce loss taken on the logits. That is the same
        # function in fewer kernels, without the log clamp at -100 of bce on probabilities.
        self.skip_sigmoid = self.probability_output and self.discriminator.ends_with_sigmoid
        self.loss_on_probability = self.probability_output and not self.skip_sigmoid
        # A generator that ends with a straight-through Gumbel head emits one-hot samples, which
        # reach the discriminator's first linear layer as the positions of their ones
        self.one_hot = (
            self.generator.ends_with_gumbel
            and self.discriminator.one_hot_width == recipe.pack * self.sample_dim
            and len(pattern.sample_shape) == 1
        )
        self.ema: StackedNetwork | None = None
        if first.ema is not None:
            self.ema = StackedNetwork([m.ema for m in self.members if m.ema is not None], with_grad=False, batched=batched)

        # a fixed training set per seed, or None when every step draws fresh real samples
        self.data: torch.Tensor | None = None
        if not first.fresh_data:
            self.data = torch.stack([m.data for m in self.members if m.data is not None])
        # fresh real samples for all seeds come from one generator in one call per step.
        # They are independent draws, as a pattern's samples are, so each seed still
        # trains on samples from the pattern's distribution.
        self.data_generator = torch.Generator().manual_seed(first.seed)

        # positions in self.members of the seeds still training, in stack order
        self.active = list(range(len(self.members)))
        self.stop_reasons: dict[int, str] = {}
        self.epoch = 0
        self.step = 0

    # losses per seed: each returns a vector with one loss per stacked seed

    def _d_loss(self, d_real: torch.Tensor | None, d_fake: torch.Tensor | None) -> torch.Tensor:
        total = torch.zeros(len(self.active), device=self.device)
        if d_real is not None:
            total = total + _per_seed_mean(losses.real_term(d_real, self.recipe.loss, self.loss_on_probability))
        if d_fake is not None:
            total = total + _per_seed_mean(losses.fake_term(d_fake, self.recipe.loss, self.loss_on_probability))
        return total

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return _per_seed_mean(losses.generator_term(d_fake, self.recipe.loss, self.loss_on_probability))

    # one optimizer step of every seed's networks

    def _pack(self, samples: torch.Tensor) -> torch.Tensor:
        return samples.reshape(len(samples), -1, self.recipe.pack * self.sample_dim)

    def _noise(self) -> torch.Tensor:
        return torch.randn(len(self.active), self.batch_size, self.latent_size, device=self.device)

    @staticmethod
    def _optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        # the sum of the seeds' losses gives each seed exactly the gradient of its own loss
        clear_grads(optimizer.param_groups[0]["params"])
        loss.sum().backward()
        adam_step(optimizer)

    def _discriminate(self, dense: torch.Tensor | None, rows: torch.Tensor | None, detached: bool = False) -> torch.Tensor:
        return self.discriminator(dense, detached=detached, logits=self.skip_sigmoid, rows=rows)

    def _real_rows(self, real: torch.Tensor) -> torch.Tensor | None:
        """Return the one-hot positions of a real batch as discriminator rows, or None when it goes in dense."""
        if not self.one_hot:
            return None
        index = one_hot_index(real)
        return None if index is None else packed_rows(index, self.recipe.pack, self.sample_dim)

    def _fake(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Generate one batch per seed as a discriminator input ``(dense, rows)``.

        For a one-hot generator ``rows`` contains the positions of the ones, and ``dense``
        the packed soft probabilities, or None without gradients. Otherwise ``dense``
        contains the packed samples and ``rows`` is None.
        """
        if not self.one_hot:
            return self._pack(self.generator(self._noise())), None
        soft, index = self.generator.draw_one_hot(self._noise())
        rows = packed_rows(index, self.recipe.pack, self.sample_dim)
        return (None if soft is None else self._pack(soft)), rows

    def _train_step(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real_rows = self._real_rows(real)
        real_dense = self._pack(real) if real_rows is None else None

        for _ in range(self.recipe.n_critic):
            with torch.no_grad():
                fake_dense, fake_rows = self._fake()
            if real_rows is None and fake_rows is not None:
                # a real batch that is not one-hot goes in dense, so the generated one does too
                fake_dense, fake_rows = dense_rows(fake_rows, self.recipe.pack * self.sample_dim), None
            if self.recipe.separate_d_steps:
                d_loss_real = self._d_loss(self._discriminate(real_dense, real_rows), None)
                self._optimize(self.opt_d, d_loss_real)
                d_loss_fake = self._d_loss(None, self._discriminate(fake_dense, fake_rows))
                self._optimize(self.opt_d, d_loss_fake)
                d_loss = d_loss_real.detach() + d_loss_fake.detach()
            else:
                if real_rows is not None and fake_rows is not None:
                    d_out = self._discriminate(None, torch.cat([real_rows, fake_rows], dim=1))
                else:
                    assert real_dense is not None and fake_dense is not None
                    d_out = self._discriminate(torch.cat([real_dense, fake_dense], dim=1), None)
                half = d_out.shape[1] // 2
                d_loss = self._d_loss(d_out[:, :half], d_out[:, half:])
                self._optimize(self.opt_d, d_loss)
                d_loss = d_loss.detach()

        # the discriminator's weights need no gradient in the generator's step
        fake_dense, fake_rows = self._fake()
        g_loss = self._g_loss(self._discriminate(fake_dense, fake_rows, detached=True))
        self._optimize(self.opt_g, g_loss)
        if self.ema is not None:
            with torch.no_grad():
                ema_params = list(self.ema.params.values())
                torch._foreach_lerp_(ema_params, [p.detach() for p in self.generator.params.values()], 1.0 - self.recipe.ema_decay)
        return d_loss, g_loss.detach()

    def _real_batches(self) -> Iterator[torch.Tensor]:
        seeds, batch = len(self.active), self.batch_size
        if self.data is not None:
            orders = torch.stack([
                torch.randperm(self.data.shape[1], generator=self.members[i].data_generator) for i in self.active
            ]).to(self.device)  # fmt: skip
            rows = torch.arange(seeds, device=self.device)[:, None]
            shuffled = self.data[rows, orders]
            for index in range(self.steps_per_epoch):
                yield shuffled[:, index * batch : (index + 1) * batch]
            return
        sample_shape = tuple(self.pattern.sample_shape)
        for _ in range(self.steps_per_epoch):
            samples = self.pattern.sample(seeds * batch, self.data_generator)
            if tuple(samples.shape) != (seeds * batch, *sample_shape):
                raise InvalidSamples(
                    f"pattern {self.pattern.name} returned real samples of shape {tuple(samples.shape)}, "
                    f"expected {(seeds * batch, *sample_shape)}"
                )
            yield samples.float().reshape(seeds, batch, *sample_shape).to(self.device)

    def _train_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        factor = self.members[0]._lr_factor(self.epoch)
        for optimizer, lr in ((self.opt_g, self.recipe.lr_g), (self.opt_d, self.recipe.lr_d)):
            optimizer.param_groups[0]["lr"] = lr * factor
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
        # the member's optimizer is not used for training, but its learning rate goes into the log
        member.opt_g.param_groups[0]["lr"] = self.opt_g.param_groups[0]["lr"]
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
        """Keep only the seeds at ``rows`` in the stack; the others stop changing."""
        self.active = [self.active[row] for row in rows]
        if not rows:
            return
        index = torch.tensor(rows, device=self.device)
        self.opt_g = _keep_optimizer_rows(self.opt_g, self.generator.keep(index), index)
        self.opt_d = _keep_optimizer_rows(self.opt_d, self.discriminator.keep(index), index)
        if self.ema is not None:
            self.ema.keep(index)
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
