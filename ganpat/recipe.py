"""Training recipes: every hyper-parameter of one way to train a GAN, by name."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

LOSSES = ("bce", "hinge")
LR_SCHEDULES = ("constant", "linear", "cosine")
CHECK_NOISE_KINDS = ("normal", "sobol")
# torch.Generator.manual_seed accepts 64-bit seeds but gives seed s + 2**63 the same stream as s
# (torch 2.13.0), so ganpat takes seeds up to 2**63 - 1 and each one gives its own stream
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Recipe:
    """A complete, named set of training hyper-parameters."""

    # name shown in metadata and selected with --recipe
    name: str
    # registered architecture that builds the generator and discriminator
    architecture: str
    # keyword options passed to the architecture (hidden widths, output head, ...)
    arch_options: Mapping[str, Any] = field(default_factory=dict)
    # "bce" (non-saturating generator loss) or "hinge"
    loss: str = "bce"
    # real samples per optimizer step
    batch_size: int = 128
    # Adam learning rates for the generator and the discriminator
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    # Adam's (beta1, beta2)
    betas: tuple[float, float] = (0.9, 0.999)
    # discriminator steps per generator step
    n_critic: int = 1
    # the book's loop: one discriminator step on real data, then another on generated data
    separate_d_steps: bool = False
    # PacGAN packing: samples concatenated into one discriminator input
    pack: int = 1
    # decay of the exponential moving average of generator weights; 0 turns it off
    ema_decay: float = 0.0
    # learning-rate schedule over the epoch budget: constant, linear or cosine
    lr_schedule: str = "constant"
    # learning rate at the end of the schedule, as a fraction of the initial one
    lr_final_fraction: float = 1.0
    # ceiling on epochs
    epochs: int = 10_000
    # optimizer steps per epoch; None makes an epoch one pass over the training set
    steps_per_epoch: int | None = None
    # epochs without a better quality score before training stops
    patience: int = 1000
    # epochs between quality checks
    check_every: int = 1
    # consecutive checks meeting the pattern's target that end training; 0 never stops early on it
    target_hold: int = 0
    # tighter bounds, by metric name, that checks must also meet before training stops early,
    # so that the saved generator meets the target on other noise too. Each bound keeps its target's direction.
    stop_thresholds: Mapping[str, float] = field(default_factory=dict)
    # standardise the data per feature inside the networks
    standardize: bool = False
    # draw fresh real samples at every step even when the pattern has a fixed training set
    fresh_data: bool = False
    # latent draw that quality checks measure: "normal" is independent normal samples, "sobol" a scrambled
    # Sobol sequence mapped to the normal, whose metrics carry less sampling noise
    check_noise: str = "normal"

    def replace(self, **changes: Any) -> Recipe:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def lr_factor(self, epoch: int) -> float:
        """Return the learning-rate multiplier of the schedule at the start of ``epoch``."""
        progress = min(1.0, epoch / max(1, self.epochs))
        end = self.lr_final_fraction
        if self.lr_schedule == "linear":
            return 1.0 + (end - 1.0) * progress
        if self.lr_schedule == "cosine":
            return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as JSON-ready data."""
        data = dataclasses.asdict(self)
        data["arch_options"] = dict(self.arch_options)
        data["stop_thresholds"] = dict(self.stop_thresholds)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Rebuild a recipe from :meth:`to_dict` output, ignoring unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {key: value for key, value in data.items() if key in names}
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        return cls(**kwargs)

    def validate(self) -> None:
        """Raise ValueError naming the first field that is out of range."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
        if self.check_noise not in CHECK_NOISE_KINDS:
            raise ValueError(f"check_noise must be one of {', '.join(CHECK_NOISE_KINDS)}, not {self.check_noise!r}")
        for name in ("batch_size", "n_critic", "pack", "epochs", "patience", "check_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError("steps_per_epoch must be at least 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
