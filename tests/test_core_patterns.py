"""Built-in patterns and architectures: real data against the book's formulas, the one-hot family, listings."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import assert_clean_error

from ganpat import plugins
from ganpat.builtin import onehot
from ganpat.errors import UsageProblem
from ganpat.metrics import INVALID
from ganpat.persistence import quiet_jit

CURVES = {
    "exponential": ((0.0, 50.0), lambda x: 1.08**x),
    "inverted-u": ((-5.0, 5.0), lambda x: 10 - x**2),
    "sine": ((-5.0, 5.0), torch.sin),
}


@pytest.fixture(scope="module")
def registry():
    return plugins.registry()


@pytest.mark.parametrize("name", sorted(CURVES))
def test_curve_samples_follow_formula(registry, name):
    (low, high), formula = CURVES[name]
    pattern = registry.pattern(name)
    samples = pattern.sample(20_000, torch.Generator().manual_seed(3))

    assert samples.shape == (20_000, 2)
    assert samples.dtype == torch.float32
    x, y = samples[:, 0], samples[:, 1]
    assert float(x.min()) >= low
    assert float(x.max()) < high
    torch.testing.assert_close(y, formula(x))

    # x is uniform: its mean and its spread in tenths of the domain match U(low, high)
    width = high - low
    assert float(x.mean()) == pytest.approx((low + high) / 2, abs=0.02 * width)
    counts = torch.histc(x, bins=10, min=low, max=high)
    assert float(counts.min()) > 0.9 * 2000
    assert float(counts.max()) < 1.1 * 2000


@pytest.mark.parametrize("name", sorted(CURVES))
def test_curve_training_set_is_book_size(registry, name):
    pattern = registry.pattern(name)
    assert pattern.training_set_size == 2048
    assert pattern.sample_shape == (2,)
    assert pattern.columns == ("x", "y")


def test_curve_samples_depend_only_on_seed(registry):
    pattern = registry.pattern("sine")
    first = pattern.sample(100, torch.Generator().manual_seed(5))
    again = pattern.sample(100, torch.Generator().manual_seed(5))
    other = pattern.sample(100, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("n", [1, 5, 7, 33, 50, 99])
def test_onehot_samples_are_multiples(registry, n):
    pattern = registry.pattern(f"onehot-multiples-of-{n}")
    samples = pattern.sample(4000, torch.Generator().manual_seed(n))

    assert samples.shape == (4000, 100)
    assert torch.equal(samples.sum(dim=1), torch.ones(4000))
    assert set(samples.unique().tolist()) == {0.0, 1.0}
    values = samples.argmax(dim=1)
    assert bool((values % n == 0).all())
    expected = list(range(0, 100, n))
    assert sorted(set(values.tolist())) == expected
    assert pattern.valid_values == expected


def test_onehot_multiples_of_5_is_uniform(registry):
    pattern = registry.pattern("onehot-multiples-of-5")
    values = pattern.sample(40_000, torch.Generator().manual_seed(0)).argmax(dim=1)
    counts = torch.bincount(values, minlength=100)

    assert len(pattern.valid_values) == 20
    assert int(counts[[v for v in range(100) if v % 5]].sum()) == 0
    # 2000 expected per value; a 10% band is more than 4 standard deviations wide
    for value in range(0, 100, 5):
        assert 1800 < int(counts[value]) < 2200, value


@pytest.mark.parametrize("name", ["onehot-multiples-of-0", "onehot-multiples-of-100", "onehot-multiples-of-05",
                                  "onehot-multiples-of-", "onehot-multiples-of-x", "onehot-multiples-of-5-"])  # fmt: skip
def test_onehot_family_rejects_bad_names(registry, name):
    with pytest.raises(UsageProblem, match="unknown pattern"):
        registry.pattern(name)


def test_onehot_family_names_cover_1_to_99(registry):
    names = registry.pattern_names()
    family = [name for name in names if name.startswith("onehot-multiples-of-")]
    assert family == [f"onehot-multiples-of-{n}" for n in range(1, 100)]
    assert registry.pattern("onehot-multiples-of-99").params == {"n": 99}


ONEHOT_ROWS = {
    "all zeros": ([0.0] * 100, INVALID),
    "tie of two maxima": ([0.5 if i in (0, 5) else 0.0 for i in range(100)], INVALID),
    "tie at zero": ([0.0] * 99 + [-1.0], INVALID),
    "nan": ([math.nan] + [0.0] * 99, INVALID),
    "clear 0": ([1.0] + [0.0] * 99, 0),
    "clear 95": ([0.1] * 95 + [0.9] + [0.1] * 4, 95),
    "soft maximum at 40": ([0.01] * 40 + [0.02] + [0.01] * 59, 40),
}


@pytest.mark.parametrize("case", sorted(ONEHOT_ROWS))
def test_onehot_decode_row(registry, case):
    row, expected = ONEHOT_ROWS[case]
    pattern = registry.pattern("onehot-multiples-of-5")
    decoded = pattern.decode(torch.tensor([row]))
    assert decoded.shape == (1, 1)
    assert int(decoded[0, 0]) == expected


def test_onehot_invalid_is_never_zero(registry):
    pattern = registry.pattern("onehot-multiples-of-5")
    assert pattern.invalid_value == INVALID
    assert INVALID not in range(100)


def test_list_patterns_shows_family_once(ganpat_cli):
    result = ganpat_cli("list-patterns")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("onehot-multiples-of-N") == 1
    assert "N = 1..99" in result.stdout
    assert "onehot-multiples-of-5" not in result.stdout
    for name in CURVES:
        assert name in result.stdout


def test_list_patterns_json_lists_family_once(ganpat_cli):
    result = ganpat_cli("list-patterns", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_name = {row["name"]: row for row in rows}

    assert len(by_name) == len(rows)
    family = by_name["onehot-multiples-of-N"]
    assert family["parameter"] == "N"
    assert family["values"] == [1, 99]
    assert family["sample_shape"] == [100]
    # the declared recipe names are the ones a built member really has
    assert family["recipes"] == sorted(onehot.FAMILY.build(5).recipes)
    assert family["recipes"] == ["book", "default"]
    assert not [name for name in by_name if name.startswith("onehot-multiples-of-") and name[-1].isdigit()]
    for name in CURVES:
        assert by_name[name]["sample_shape"] == [2]
        assert by_name[name]["plugin"] == "ganpat.builtin.curves"
        assert set(by_name[name]) >= {"description", "default_architecture"}


def test_unknown_pattern_suggests_close_names(ganpat_cli, tmp_path):
    result = ganpat_cli("train", "exponentail", "--out", tmp_path / "x.pt")
    stderr = assert_clean_error(result, 2)
    assert "exponentail" in stderr
    assert "exponential" in stderr
    assert "list-patterns" in stderr
    assert not (tmp_path / "x.pt").exists()


def test_unknown_family_member_suggests_close_names(ganpat_cli, tmp_path):
    result = ganpat_cli("train", "onehot-multiples-of-500", "--out", tmp_path / "x.pt")
    stderr = assert_clean_error(result, 2)
    assert "onehot-multiples-of-50" in stderr


def test_list_architectures_json(ganpat_cli):
    result = ganpat_cli("list-architectures", "--json")
    assert result.exit_code == 0, result.output
    names = {row["name"] for row in json.loads(result.stdout)}
    assert {"book-curve", "book-onehot"} <= names


def layer_summary(module: torch.nn.Module) -> list[str]:
    summary = []
    for layer in module:
        if isinstance(layer, torch.nn.Linear):
            summary.append(f"Linear({layer.in_features},{layer.out_features})")
        elif type(layer).__name__.endswith("Dropout"):
            # nn.Dropout or a drop-in with the same distribution and the same `p` attribute
            summary.append(f"Dropout({layer.p})")
        else:
            summary.append(type(layer).__name__)
    return summary


def build(registry, architecture_name, pattern_name):
    from ganpat.architecture import ModelSpec

    architecture = registry.architecture(architecture_name)
    spec = ModelSpec(registry.pattern(pattern_name).sample_shape[0])
    return architecture, spec


def test_book_curve_layers(registry):
    architecture, spec = build(registry, "book-curve", "inverted-u")
    assert architecture.latent_size(spec) == 2
    assert layer_summary(architecture.build_generator(spec)) == [
        "Linear(2,16)", "ReLU", "Linear(16,32)", "ReLU", "Linear(32,2)",
    ]  # fmt: skip
    assert layer_summary(architecture.build_discriminator(spec)) == [
        "Linear(2,256)", "ReLU", "Dropout(0.3)", "Linear(256,128)", "ReLU", "Dropout(0.3)",
        "Linear(128,64)", "ReLU", "Dropout(0.3)", "Linear(64,1)", "Sigmoid",
    ]  # fmt: skip


def test_book_onehot_layers(registry):
    architecture, spec = build(registry, "book-onehot", "onehot-multiples-of-5")
    assert architecture.latent_size(spec) == 100
    assert layer_summary(architecture.build_generator(spec)) == ["Linear(100,100)", "ReLU"]
    assert layer_summary(architecture.build_discriminator(spec)) == ["Linear(100,1)", "Sigmoid"]


@pytest.mark.parametrize("pattern_name", ["exponential", "onehot-multiples-of-5"])
def test_generators_survive_jit_script(registry, pattern_name):
    from ganpat.architecture import ModelSpec

    pattern = registry.pattern(pattern_name)
    for recipe in pattern.recipes.values():
        architecture = registry.architecture(recipe.architecture)
        spec = ModelSpec(pattern.sample_shape[0], recipe.pack, None, None, dict(recipe.arch_options))
        generator = architecture.build_generator(spec).eval()
        with quiet_jit():
            scripted = torch.jit.script(generator)
        z = torch.randn(3, architecture.latent_size(spec))
        # a Gumbel-softmax head draws noise inside, so both calls start from one seed
        torch.manual_seed(1)
        expected = generator(z)
        torch.manual_seed(1)
        torch.testing.assert_close(scripted(z), expected)


@pytest.mark.parametrize(("pattern_name", "batch_size"), [("exponential", 128), ("onehot-multiples-of-5", 10)])
def test_book_recipes_by_name(registry, pattern_name, batch_size):
    recipe = registry.pattern(pattern_name).recipes["book"]
    assert recipe.loss == "bce"
    assert recipe.lr_g == 5e-4
    assert recipe.lr_d == 5e-4
    assert recipe.batch_size == batch_size
    assert recipe.architecture.startswith("book-")
