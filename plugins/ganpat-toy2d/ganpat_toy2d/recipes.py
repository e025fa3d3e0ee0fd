"""Default training recipes of the toy patterns; benchmarks/seeds.py measures them over seeds."""

from __future__ import annotations

from ganpat.recipe import Recipe

# PacGAN packing of 4 with an EMA generator on ganpat's MLP; real samples are drawn fresh at every step.
# 20,000 steps at most: a shorter run (10,000 steps, EMA 0.999) left about a quarter of the ring-8
# samples on the bridges between modes.
MIXTURE_RECIPE = Recipe(
    name="default",
    architecture="ganpat-mlp",
    arch_options={"g_hidden": [128, 128], "d_hidden": [128, 128], "latent_size": 2},
    loss="bce",
    batch_size=256,
    lr_g=1e-3,
    lr_d=1e-3,
    betas=(0.5, 0.999),
    pack=4,
    ema_decay=0.9995,
    lr_schedule="cosine",
    lr_final_fraction=0.05,
    steps_per_epoch=100,
    epochs=200,
    patience=100,
    check_every=5,
    target_hold=3,
    standardize=True,
)

# NOTE: the curve patterns reuse the mixture recipe; it has not been measured on them over seeds
CURVE_RECIPE = MIXTURE_RECIPE
