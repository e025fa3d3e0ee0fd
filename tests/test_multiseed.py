"""Training many seeds at once: `--seeds` parsing, batched steps, per-seed state and the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import assert_clean_error, invoke, scripted_state
from ganpat import plugins
from ganpat.engine import Trainer
from ganpat.errors import UsageProblem
from ganpat.multiseed import MultiSeedTrainer, parse_seeds, seed_file


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3", [0, 1, 2]),
        ("1", [0]),
        ("0-3", [0, 1, 2, 3]),
        ("5-5", [5]),
        ("1,5,9", [1, 5, 9]),
        ("0-1,7", [0, 1, 7]),
        (" 2 , 4 ", [2, 4]),
    ],
)
def test_parse_seeds_forms(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "x", "-1", "3-1", "0", "1,1", "0-2,2", "1.5", "5000"])
def test_parse_seeds_rejects(text):
    with pytest.raises(UsageProblem):
        parse_seeds(text)


def build(pattern_name: str, seeds: list[int], batched: bool = True, recipe_name: str = "default", **changes):
    pattern = plugins.registry().pattern(pattern_name)
    recipe = pattern.recipes[recipe_name].replace(**changes)
    architecture = plugins.registry().architecture(recipe.architecture)
    multi = MultiSeedTrainer(pattern, architecture, recipe, seeds, batched=batched)
    singles = [Trainer(pattern, architecture, recipe, seed=seed) for seed in seeds]
    return multi, singles


def test_stacked_weights_start_as_single_seeds():
    multi, singles = build("exponential", [4, 9])
    for row, single in enumerate(singles):
        generator = multi.generator.parameters_of(row)
        for name, parameter in single.generator.named_parameters():
            assert torch.equal(generator[name], parameter), name
        discriminator = multi.discriminator.parameters_of(row)
        for name, parameter in single.discriminator.named_parameters():
            assert torch.equal(discriminator[name], parameter), name
    assert multi.data is None, "the default curve recipe draws fresh samples every step"


def test_book_recipe_stacks_training_sets():
    pattern = plugins.registry().pattern("exponential")
    recipe = pattern.recipes["book"]
    architecture = plugins.registry().architecture(recipe.architecture)
    multi = MultiSeedTrainer(pattern, architecture, recipe, [4, 9])
    single = Trainer(pattern, architecture, recipe, seed=9)
    assert torch.equal(multi.data[1], single.data)


@pytest.mark.parametrize("batched", [True, False], ids=["batched-layers", "vmap"])
def test_batched_steps_match_single_seeds(batched):
    """With the same real batches and noise, every seed's weights follow its single-seed run.

    The exponential's default networks draw no random numbers inside, so the runs
    must agree to float tolerance, through the batched layers and through vmap alike.
    """
    seeds = [0, 3]
    multi, singles = build("exponential", seeds, batched=batched)
    assert multi.generator.uses_vmap is not batched
    steps = 4
    batch, latent = multi.batch_size, multi.latent_size
    noise = torch.randn(steps, 2, len(seeds), batch, latent)
    real = torch.stack([torch.stack([s._real_samples(batch) for s in singles]) for _ in range(steps)])

    multi_draws = iter(noise.reshape(-1, len(seeds), batch, latent))
    multi._noise = lambda: next(multi_draws)
    for step in range(steps):
        multi._train_step(real[step])

    for row, single in enumerate(singles):
        draws = iter(noise[:, :, row].reshape(-1, batch, latent))
        single._noise = lambda n, draws=draws: next(draws)
        for step in range(steps):
            single._train_step(real[step, row])
        stacks = [(multi.generator, single.generator), (multi.discriminator, single.discriminator)]
        if single.ema is not None:
            stacks.append((multi.ema, single.ema))
        for stack, network in stacks:
            together = stack.parameters_of(row)
            for name, parameter in network.named_parameters():
                torch.testing.assert_close(together[name], parameter, rtol=1e-4, atol=1e-5)


def test_one_hot_steps_match_dense_steps():
    """Passing one-hot samples as positions changes only the order of float additions."""
    seeds = [0, 2]
    by_rows, _ = build("onehot-multiples-of-5", seeds)
    dense, _ = build("onehot-multiples-of-5", seeds)
    assert by_rows.one_hot
    dense.one_hot = False
    steps, batch, latent = 3, by_rows.batch_size, by_rows.latent_size
    noise = torch.randn(steps * 2, len(seeds), batch, latent)
    pattern = plugins.registry().pattern("onehot-multiples-of-5")
    real = pattern.sample(steps * len(seeds) * batch, torch.Generator().manual_seed(1))
    real = real.reshape(steps, len(seeds), batch, -1)

    for trainer in (by_rows, dense):
        draws = iter(noise)
        trainer._noise = lambda draws=draws: next(draws)
        # the Gumbel head's draws come from the global generator, in the same order on both paths
        torch.manual_seed(7)
        for step in range(steps):
            trainer._train_step(real[step])

    for name, parameter in by_rows.generator.params.items():
        torch.testing.assert_close(parameter, dense.generator.params[name], rtol=1e-4, atol=1e-5, msg=name)
    for name, parameter in by_rows.discriminator.params.items():
        torch.testing.assert_close(parameter, dense.discriminator.params[name], rtol=1e-4, atol=1e-5, msg=name)


def test_one_hot_path_takes_dense_real_batches():
    """A real batch that is not exactly one-hot goes through the dense product, with the generated batch."""
    multi, _ = build("onehot-multiples-of-5", [0, 1])
    pattern = plugins.registry().pattern("onehot-multiples-of-5")
    real = pattern.sample(2 * multi.batch_size, torch.Generator().manual_seed(3)).reshape(2, multi.batch_size, -1)
    assert multi._real_rows(real) is not None
    real = real * 0.9
    assert multi._real_rows(real) is None
    d_loss, g_loss = multi._train_step(real)
    assert torch.isfinite(d_loss).all()
    assert torch.isfinite(g_loss).all()


@pytest.mark.parametrize(
    "pattern_name, recipe_name",
    [
        ("exponential", "default"),
        ("onehot-multiples-of-5", "default"),
        ("exponential", "book"),
        ("onehot-multiples-of-5", "book"),
    ],
)
def test_seed_matches_single_run_in_distribution(pattern_name, recipe_name):
    """Random draws differ (noise, dropout masks, Gumbel draws), but each seed's losses track its single run."""
    seeds = [0, 1]
    multi, singles = build(pattern_name, seeds, recipe_name=recipe_name, epochs=4, check_every=2, target_hold=0)
    assert not multi.generator.uses_vmap
    assert not multi.discriminator.uses_vmap
    batched = multi.run()
    for seed, result, single in zip(seeds, batched, singles):
        alone = single.run()
        assert result.epochs_run == alone.epochs_run == 4
        assert result.steps == alone.steps
        assert len(result.history) == len(alone.history) == 2
        for together, apart in zip(result.history, alone.history):
            assert together.epoch == apart.epoch
            assert together.lr_g == pytest.approx(apart.lr_g), f"seed {seed} epoch {apart.epoch}"
            assert together.d_loss == pytest.approx(apart.d_loss, abs=0.15), f"seed {seed} epoch {apart.epoch}"
            assert together.g_loss == pytest.approx(apart.g_loss, abs=0.3), f"seed {seed} epoch {apart.epoch}"


def test_book_recipe_with_dropout_trains():
    pattern = plugins.registry().pattern("exponential")
    recipe = pattern.recipes["book"].replace(epochs=2, patience=100)
    architecture = plugins.registry().architecture(recipe.architecture)
    results = MultiSeedTrainer(pattern, architecture, recipe, [0, 1]).run()
    assert [r.epochs_run for r in results] == [2, 2]
    assert all(r.steps == 2 * (2048 // 128) for r in results)


def test_stopped_seed_leaves_stack():
    pattern = plugins.registry().pattern("exponential")
    recipe = pattern.recipes["book"].replace(epochs=1)
    multi = MultiSeedTrainer(pattern, plugins.registry().architecture(recipe.architecture), recipe, [0, 1, 2])
    multi.run()
    name, first = next(iter(multi.generator.params.items()))
    old_weight = first.detach().clone()
    old_moment = multi.opt_g.state[first]["exp_avg"].clone()
    multi._keep([0, 2])
    assert multi.active == [0, 2]
    remaining = multi.generator.params[name]
    assert remaining.shape[0] == 2
    assert torch.equal(remaining[1], old_weight[2])
    moment = multi.opt_g.state[remaining]["exp_avg"]
    assert torch.equal(moment[1], old_moment[2])
    assert multi.data.shape[0] == 2


def test_patience_stops_each_seed_on_its_own():
    multi, _ = build("exponential", [0, 1], epochs=40, patience=5, check_every=5, target_hold=0)
    results = multi.run()
    for result in results:
        assert result.stop_reason in {"patience", "epochs"}
        assert result.history[-1].epoch == result.epochs_run
        if result.stop_reason == "patience":
            assert result.epochs_run - result.best_epoch >= 5


def test_cli_seeds_save_all(tmp_path):
    out = tmp_path / "models" / "exponential.pt"
    result = invoke("train", "exponential", "--seeds", "0-2", "--epochs", "5", "--save-all", "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "target met by" in result.stdout
    for seed in range(3):
        assert f"│ {seed} " in result.stdout
        path = seed_file(out, seed)
        assert path == tmp_path / "models" / "exponential" / f"seed-{seed:02d}.pt"
        assert path.exists()
        assert path.with_name(f"seed-{seed:02d}.log.jsonl").exists()
        metadata = json.loads(invoke("info", path, "--json").stdout)
        assert metadata["seed"] == seed
        assert metadata["epochs_run"] == 5
    best = json.loads(invoke("info", out, "--json").stdout)
    assert best["seeds_trained"] == [0, 1, 2]
    best_state = scripted_state(out)
    same = scripted_state(seed_file(out, best["seed"]))
    assert all(torch.equal(best_state[name], same[name]) for name in best_state)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "3-1"], "--seeds"),
        (["--save-all"], "--save-all needs --seeds"),
        (["--seeds", "2", "--seed", "4"], "cannot be combined"),
        (["--seeds", "2", "--resume"], "--resume"),
    ],
)
def test_cli_seeds_usage_errors(tmp_path, args, message):
    result = invoke("train", "exponential", "--epochs", "1", "--out", tmp_path / "e.pt", *args)
    stderr = assert_clean_error(result, 2)
    assert message in stderr
