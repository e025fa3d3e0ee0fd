"""The adversarial training loop, which uses patterns, architectures and recipes only
through their contracts."""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch
from torch import nn

from ganpat import checkpoint, losses
from ganpat.architecture import Architecture, ModelSpec
from ganpat.optimizer import adam_options, adam_step, clear_grads, set_requires_grad
from ganpat.check_noise import draw_check_noise
from ganpat.errors import InvalidSamples, TrainingDiverged, UsageProblem
from ganpat.pattern import Pattern
from ganpat.recipe import Recipe
from ganpat.records import Callback, CheckRecord, TrainResult

__all__ = ["CHECK_SAMPLES", "CHECK_SEED", "Callback", "CheckRecord", "TrainResult", "Trainer"]

# noise seed of the quality checks during training; `ganpat evaluate` defaults to another
CHECK_SEED = 20_240_301
CHECK_SAMPLES = 10_000
# samples drawn to estimate the data's mean and std for patterns without a training set
STATS_SAMPLES = 8192


class Trainer:
    """Trains one GAN: build the networks, then alternate discriminator and generator steps."""

    def __init__(
        self,
        pattern: Pattern,
        architecture: Architecture,
        recipe: Recipe,
        seed: int = 0,
        device: torch.device | str = "cpu",
        callbacks: list[Any] | None = None,
    ) -> None:
        recipe.validate()
        self.pattern = pattern
        self.architecture = architecture
        self.recipe = recipe
        self.seed = seed
        self.device = torch.device(device)
        self.callbacks = list(callbacks or [])
        self.epoch = 0
        self.step = 0
        self.best_score = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}
        self.best_epoch = 0
        self.last_improvement = 0
        self.target_streak = 0
        self.history: list[CheckRecord] = []
        self.elapsed_before = 0.0
        self._run_started: float | None = None
        self._setup()

    # set-up

    def _setup(self) -> None:
        recipe, pattern = self.recipe, self.pattern
        torch.manual_seed(self.seed)
        self.data_generator = torch.Generator().manual_seed(self.seed)
        self.sample_dim = pattern.sample_shape[0]

        # a fixed training set (the book's setup), or fresh real samples every step
        self.data: torch.Tensor | None = None
        if pattern.training_set_size is not None:
            self.data = self._real_samples(pattern.training_set_size).to(self.device)
        self.batch_size = recipe.batch_size
        self.fresh_data = recipe.fresh_data or self.data is None
        if self.data is not None and self.batch_size > len(self.data):
            self.batch_size = len(self.data)
        if self.batch_size < recipe.pack:
            raise UsageProblem(f"--batch-size {self.batch_size} is smaller than the recipe's pack {recipe.pack}")
        # whole packs only, so every discriminator input contains `pack` samples
        self.batch_size -= self.batch_size % recipe.pack
        if recipe.steps_per_epoch is not None:
            self.steps_per_epoch = recipe.steps_per_epoch
        else:
            assert self.data is not None, "a pattern without a training set needs steps_per_epoch"
            self.steps_per_epoch = len(self.data) // self.batch_size

        # networks, standardised on the data's own statistics when the recipe sets standardize
        self.data_mean: tuple[float, ...] | None = None
        self.data_std: tuple[float, ...] | None = None
        if recipe.standardize:
            reference = self.data if self.data is not None else self._stats_sample()
            self.data_mean = tuple(float(v) for v in reference.mean(dim=0))
            self.data_std = tuple(max(float(v), 1e-6) for v in reference.std(dim=0))
        spec = ModelSpec(self.sample_dim, recipe.pack, self.data_mean, self.data_std, dict(recipe.arch_options))
        self.latent_size = self.architecture.latent_size(spec)
        self.generator = self.architecture.build_generator(spec).to(self.device)
        self.discriminator = self.architecture.build_discriminator(spec).to(self.device)
        self.ema: nn.Module | None = None
        if recipe.ema_decay > 0:
            self.ema = copy.deepcopy(self.generator).requires_grad_(False)

        # optimizers and losses
        options = adam_options(self.device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=recipe.lr_g, betas=recipe.betas, **options)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=recipe.lr_d, betas=recipe.betas, **options)
        self.probability_output = self.architecture.discriminator_output == "probability"
        if self.probability_output and recipe.loss != "bce":
            raise UsageProblem(
                f"architecture {self.architecture.name} ends with a sigmoid, which only the bce loss accepts"
            )
        self.d_logits, self.loss_on_probability = self._logit_discriminator()
        # Weights that train. The generator's step freezes only these discriminator weights,
        # so a weight that a plugin froze stays frozen.
        self.generator_params = [p for p in self.generator.parameters() if p.requires_grad]
        self.discriminator_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        noise = draw_check_noise(recipe.check_noise, CHECK_SAMPLES, self.latent_size, CHECK_SEED)
        self.check_noise = noise.to(self.device)

    def _real_samples(self, n: int) -> torch.Tensor:
        samples = self.pattern.sample(n, self.data_generator)
        expected = (n, *self.pattern.sample_shape)
        if tuple(samples.shape) != expected:
            raise InvalidSamples(
                f"pattern {self.pattern.name} returned real samples of shape {tuple(samples.shape)}, "
                f"expected {expected}"
            )
        return samples.float()

    def _stats_sample(self) -> torch.Tensor:
        state = self.data_generator.get_state()
        reference = self._real_samples(STATS_SAMPLES)
        self.data_generator.set_state(state)
        return reference

    def _logit_discriminator(self) -> tuple[nn.Module, bool]:
        """Return the network that the training step calls and whether its output is a probability.

        A discriminator that is an ``nn.Sequential`` ending in ``nn.Sigmoid`` is called
        without that last layer, and the step takes the bce loss on the logits. The loss
        is the same function, with fewer kernels and no log clamp at -100. The returned
        network shares its layers with ``self.discriminator``.
        """
        network = self.discriminator
        if self.probability_output and isinstance(network, nn.Sequential) and isinstance(network[-1], nn.Sigmoid):
            return network[:-1], False
        return network, self.probability_output

    # losses

    def _real_loss(self, d_real: torch.Tensor) -> torch.Tensor:
        return losses.real_term(d_real, self.recipe.loss, self.loss_on_probability).mean()

    def _fake_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return losses.fake_term(d_fake, self.recipe.loss, self.loss_on_probability).mean()

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return losses.generator_term(d_fake, self.recipe.loss, self.loss_on_probability).mean()

    # one optimizer step of each network

    def _pack(self, samples: torch.Tensor) -> torch.Tensor:
        return samples.reshape(-1, self.recipe.pack * self.sample_dim)

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_size, device=self.device)

    def _train_step(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recipe = self.recipe
        b = len(real)
        discriminator = self.d_logits

        # discriminator: real samples labelled real, generated samples labelled fake
        for _ in range(recipe.n_critic):
            with torch.no_grad():
                fake = self.generator(self._noise(b))
            if recipe.separate_d_steps:
                clear_grads(self.discriminator_params)
                d_loss_real = self._real_loss(discriminator(self._pack(real)))
                d_loss_real.backward()
                adam_step(self.opt_d)
                clear_grads(self.discriminator_params)
                d_loss_fake = self._fake_loss(discriminator(self._pack(fake)))
                d_loss_fake.backward()
                adam_step(self.opt_d)
                d_loss = d_loss_real.detach() + d_loss_fake.detach()
            else:
                clear_grads(self.discriminator_params)
                d_out = discriminator(torch.cat([self._pack(real), self._pack(fake)]))
                half = len(d_out) // 2
                d_loss = self._real_loss(d_out[:half]) + self._fake_loss(d_out[half:])
                d_loss.backward()
                adam_step(self.opt_d)
                d_loss = d_loss.detach()

        # generator: make the discriminator call generated samples real. The
        # discriminator's weight gradients would be discarded, so backward skips them.
        clear_grads(self.generator_params)
        set_requires_grad(self.discriminator_params, False)
        try:
            g_loss = self._g_loss(discriminator(self._pack(self.generator(self._noise(b)))))
            g_loss.backward()
        finally:
            set_requires_grad(self.discriminator_params, True)
        adam_step(self.opt_g)
        if self.ema is not None:
            self._update_ema()
        return d_loss, g_loss.detach()

    @torch.no_grad()
    def _update_ema(self) -> None:
        assert self.ema is not None
        ema_params = list(self.ema.parameters())
        torch._foreach_lerp_(ema_params, list(self.generator.parameters()), 1.0 - self.recipe.ema_decay)

    def _lr_factor(self, epoch: int) -> float:
        return self.recipe.lr_factor(epoch)

    def _set_lr(self, epoch: int) -> None:
        factor = self._lr_factor(epoch)
        for group in self.opt_g.param_groups:
            group["lr"] = self.recipe.lr_g * factor
        for group in self.opt_d.param_groups:
            group["lr"] = self.recipe.lr_d * factor

    # quality checks

    @property
    def evaluated_generator(self) -> nn.Module:
        """The generator that checks measure and that is saved: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.generator

    @torch.no_grad()
    def _check(self, d_loss: float, g_loss: float, started: float) -> CheckRecord:
        generator = self.evaluated_generator
        was_training = generator.training
        generator.eval()
        samples = generator(self.check_noise)
        generator.train(was_training)

        # measure, then record
        metrics = self.pattern.metrics(samples)
        finite = bool(torch.isfinite(samples).all())
        score = self.pattern.score(metrics) if finite else -math.inf
        met = finite and self.pattern.target_met(metrics)
        record = CheckRecord(
            epoch=self.epoch,
            step=self.step,
            d_loss=d_loss,
            g_loss=g_loss,
            metrics=metrics,
            score=score,
            target_met=met,
            elapsed=self.elapsed_before + time.perf_counter() - started,
            lr_g=self.opt_g.param_groups[0]["lr"],
        )
        self.history.append(record)

        # keep the best generator, and count consecutive checks that allow an early stop. A check that meets the
        # target outranks any that does not, so a run that stops at the target saves a generator that met it
        # even when the pattern's score rates some earlier, off-target check higher.
        best_met = self.best_state is not None and self.pattern.target_met(self.best_metrics)
        if (met, score) > (best_met, self.best_score):
            self.best_score = score
            self.best_metrics = dict(metrics)
            self.best_epoch = self.epoch
            self.last_improvement = self.epoch
            self.best_state = {k: v.detach().clone() for k, v in generator.state_dict().items()}
        stop_met = met and self.pattern.target_met(metrics, self.recipe.stop_thresholds)
        self.target_streak = self.target_streak + 1 if stop_met else 0
        return record

    # the loop

    def run(self) -> TrainResult:
        recipe = self.recipe
        started = time.perf_counter()
        self._run_started = started
        stop_reason = "epochs"
        interrupted = False
        self._emit("on_start")
        self.generator.train()
        self.discriminator.train()

        try:
            while self.epoch < recipe.epochs:
                # train one epoch
                d_sum, g_sum = self._train_epoch()
                self.epoch += 1

                # check quality at check points and decide whether to stop early
                stop_now = None
                if self.epoch % recipe.check_every == 0 or self.epoch >= recipe.epochs:
                    stop_now = self._check_epoch(d_sum, g_sum, started)
                self._emit("on_epoch_end")
                if stop_now is not None:
                    stop_reason = stop_now
                    break
        except KeyboardInterrupt:
            interrupted = True
            stop_reason = "interrupted"

        # a run interrupted before its first check is measured once, so it has a best state
        if self.best_state is None:
            self._check(math.nan, math.nan, started)
        if self.best_state is None or not math.isfinite(self.best_score):
            raise TrainingDiverged(self.epoch, recipe.lr_g)
        result = self._result(stop_reason, interrupted, started)
        self._emit("on_end", result)
        return result

    def _check_epoch(self, d_sum: torch.Tensor, g_sum: torch.Tensor, started: float) -> str | None:
        """Check the epoch's losses and quality; return "target" or "patience" to stop, else None."""
        d_loss = float(d_sum) / self.steps_per_epoch
        g_loss = float(g_sum) / self.steps_per_epoch
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            raise TrainingDiverged(self.epoch, self.recipe.lr_g)
        record = self._check(d_loss, g_loss, started)
        self._emit("on_check", record)
        if self.recipe.target_hold and self.target_streak >= self.recipe.target_hold:
            return "target"
        if self.epoch - self.last_improvement >= self.recipe.patience:
            return "patience"
        return None

    def _train_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._set_lr(self.epoch)
        d_sum = torch.zeros((), device=self.device)
        g_sum = torch.zeros((), device=self.device)
        if not self.fresh_data:
            assert self.data is not None
            order = torch.randperm(len(self.data), generator=self.data_generator).to(self.device)
            shuffled = self.data[order]
        for index in range(self.steps_per_epoch):
            if self.fresh_data:
                real = self._real_samples(self.batch_size).to(self.device)
            else:
                real = shuffled[index * self.batch_size : (index + 1) * self.batch_size]
            d_loss, g_loss = self._train_step(real)
            d_sum += d_loss
            g_sum += g_loss
            self.step += 1
        return d_sum, g_sum

    def _result(self, stop_reason: str, interrupted: bool, started: float) -> TrainResult:
        generator = copy.deepcopy(self.evaluated_generator)
        assert self.best_state is not None
        generator.load_state_dict(self.best_state)
        generator.eval().requires_grad_(False)
        return TrainResult(
            generator=generator,
            latent_size=self.latent_size,
            best_score=self.best_score,
            best_metrics=self.best_metrics,
            best_epoch=self.best_epoch,
            epochs_run=self.epoch,
            steps=self.step,
            stop_reason=stop_reason,
            interrupted=interrupted,
            elapsed=self.elapsed_before + time.perf_counter() - started,
            target_met=self.pattern.target_met(self.best_metrics),
            batch_size=self.batch_size,
            data_mean=self.data_mean,
            data_std=self.data_std,
            history=self.history,
        )

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(self, *args)

    # checkpoints for --resume

    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to continue training, as tensors and plain values."""
        return checkpoint.capture(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        checkpoint.restore(self, state)
