"""The plugin host with temporary in-process plugins: listing, isolation, duplicates, invalid items, check-pattern."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Callable, Iterator

import pytest
import torch
from conftest import assert_clean_error, invoke

from ganpat import hookimpl, plugins
from ganpat.errors import PluginError
from ganpat.pattern import Condition, Pattern
from ganpat.recipe import Recipe
from ganpat.testing import assert_pattern_contract, check_pattern

RECIPE = Recipe(
    name="default",
    architecture="ganpat-mlp",
    arch_options={"g_hidden": [16], "d_hidden": [16], "latent_size": 2},
    batch_size=64,
    steps_per_epoch=2,
    epochs=2,
)


class Square(Pattern):
    """Points uniform on the square [0, 1)^2; a small pattern for plugin tests."""

    description = "points uniform on the unit square"
    sample_shape = (2,)
    columns = ("x", "y")
    training_set_size = None
    recipes = {"default": RECIPE}
    target = (Condition("inside", minimum=0.99),)

    def __init__(self, name: str = "test-square") -> None:
        self.name = name

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, 2, generator=generator)

    def metrics(self, samples: torch.Tensor) -> dict[str, float]:
        inside = ((samples >= 0) & (samples < 1)).all(dim=1)
        return {"inside": float(inside.double().mean())}

    def score(self, metrics: dict[str, float]) -> float:
        return metrics["inside"]


def patterns_plugin(*patterns: object) -> SimpleNamespace:
    """Return a plugin object whose register_patterns hook registers ``patterns``."""

    @hookimpl
    def register_patterns(register: Callable[[object], None]) -> None:
        for pattern in patterns:
            register(pattern)

    return SimpleNamespace(register_patterns=register_patterns)


@pytest.fixture
def use_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., plugins.Loaded]]:
    """Load extra in-process plugins, and no installed ones, for one test; drop them afterwards."""
    monkeypatch.setenv("GANPAT_LOAD_PLUGINS", "")
    try:
        yield lambda *extra: plugins.use(list(extra))
    finally:
        plugins.reset()


def test_extra_plugin_pattern_listed(use_plugins):
    use_plugins(("test-plugin", patterns_plugin(Square())))

    result = invoke("list-patterns", "--json")

    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["test-square"]["plugin"] == "test-plugin"
    assert rows["test-square"]["default_architecture"] == "ganpat-mlp"
    assert "sine" in rows


def test_plugins_command_lists_hooks_and_names(use_plugins):
    use_plugins(("test-plugin", patterns_plugin(Square("test-one"), Square("test-two"))))

    rows = {row["name"]: row for row in json.loads(invoke("plugins", "--json").stdout)}

    assert rows["test-plugin"]["hooks"] == ["register_patterns"]
    assert rows["test-plugin"]["registered"] == ["test-one", "test-two"]
    assert rows["test-plugin"]["builtin"] is False
    assert not any(row["builtin"] for row in rows.values())


def test_plugins_all_includes_builtins(use_plugins):
    use_plugins(("test-plugin", patterns_plugin(Square())))

    rows = {row["name"]: row for row in json.loads(invoke("plugins", "--json", "--all").stdout)}

    assert rows["ganpat.builtin.curves"]["builtin"] is True
    assert rows["ganpat.builtin.curves"]["distribution"] == "ganpat"
    assert rows["ganpat.builtin.curves"]["registered"] == ["exponential", "inverted-u", "sine"]
    assert "ganpat-mlp" in rows["ganpat.builtin.architectures"]["registered"]
    assert "test-plugin" in rows


def test_hook_exception_skips_plugin(use_plugins, capsys):
    @hookimpl
    def register_patterns(register: Callable[[object], None]) -> None:
        register(Square("test-never"))
        raise RuntimeError("database is down")

    loaded = use_plugins(
        ("test-broken", SimpleNamespace(register_patterns=register_patterns)),
        ("test-good", patterns_plugin(Square())),
    )

    warnings = capsys.readouterr().err.strip().splitlines()
    assert warnings == [
        "ganpat: warning: skipped register_patterns of plugin test-broken: RuntimeError: database is down"
    ]
    names = loaded.registry.pattern_names()
    assert "test-never" not in names
    assert "test-square" in names
    assert "sine" in names


def test_hook_exception_traceback_logged(use_plugins, caplog):
    @hookimpl
    def register_patterns(register: Callable[[object], None]) -> None:
        raise RuntimeError("database is down")

    with caplog.at_level(logging.DEBUG, logger="ganpat.plugins"):
        use_plugins(("test-broken", SimpleNamespace(register_patterns=register_patterns)))

    records = [record for record in caplog.records if record.exc_info]
    assert len(records) == 1
    assert "test-broken" in records[0].getMessage()


def test_misspelled_hook_reported(use_plugins, capsys):
    @hookimpl
    def register_pattern(register: Callable[[object], None]) -> None:
        register(Square("test-never"))

    loaded = use_plugins(
        ("test-typo", SimpleNamespace(register_pattern=register_pattern)),
        ("test-good", patterns_plugin(Square())),
    )

    err = capsys.readouterr().err
    assert "skipped plugin test-typo" in err
    assert "register_pattern" in err
    assert [info.name for info in loaded.plugins if not info.builtin] == ["test-good"]
    assert "test-square" in loaded.registry.pattern_names()


def test_duplicate_pattern_names_both_plugins(use_plugins):
    with pytest.raises(PluginError) as raised:
        use_plugins(("test-first", patterns_plugin(Square())), ("test-second", patterns_plugin(Square())))

    message = str(raised.value)
    assert "'test-square'" in message
    assert "test-first" in message
    assert "test-second" in message


def test_duplicate_of_builtin_rejected(use_plugins):
    with pytest.raises(PluginError, match=r"'sine' is registered by both plugin ganpat.builtin.curves and plugin test-copy"):
        use_plugins(("test-copy", patterns_plugin(Square("sine"))))


class NoName(Square):
    def __init__(self) -> None:
        self.name = ""


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (NoName(), "registered a pattern with no name"),
        (Square("Test Square"), "registered the pattern name 'Test Square'"),
        (Square("TestSquare"), "registered the pattern name 'TestSquare'"),
        ("test-square", "which is not a Pattern or PatternFamily"),
    ],
)
def test_invalid_item_rejected_with_warning(use_plugins, capsys, item, problem):
    loaded = use_plugins(("test-bad", patterns_plugin(item, Square("test-valid"))))

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "plugin test-bad" in err[0]
    assert problem in err[0]
    assert "test-valid" in loaded.registry.pattern_names()


def test_wrong_sample_shape_rejected_when_training(use_plugins, tmp_path):
    class Flat(Square):
        def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
            return torch.rand(n, 3, generator=generator)

    use_plugins(("test-bad", patterns_plugin(Flat("test-flat"))))

    result = invoke("train", "test-flat", "--out", tmp_path / "flat.pt", "--quiet", "--device", "cpu")

    stderr = assert_clean_error(result, 1)
    assert "plugin test-bad" in stderr
    assert "test-flat" in stderr
    assert "(64, 3)" in stderr
    assert "(64, 2)" in stderr
    assert not (tmp_path / "flat.pt").exists()


def test_contract_passes_good_pattern():
    results = check_pattern(Square())

    assert [result.name for result in results if not result.passed] == []
    assert len(results) == 6


def test_contract_reports_each_broken_rule():
    class Broken(Square):
        def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
            return torch.rand(n, 2) * 2  # ignores the generator, and half the points fall outside

    failed = {result.name: result.detail for result in check_pattern(Broken()) if not result.passed}

    assert set(failed) == {"seeded determinism", "real samples meet the target"}
    assert "draw only from the generator argument" in failed["seeded determinism"]
    assert "inside >= 0.99" in failed["real samples meet the target"]


def test_contract_rejects_wrong_dtype_and_shape():
    class Integers(Square):
        def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
            return torch.randint(0, 2, (n, 2), generator=generator)

    class Wide(Square):
        def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
            return torch.rand(n, 3, generator=generator)

    integer_failures = {r.name: r.detail for r in check_pattern(Integers()) if not r.passed}
    wide_failures = {r.name: r.detail for r in check_pattern(Wide()) if not r.passed}

    assert "dtype torch.int64" in integer_failures["sample shape and dtype"]
    assert "expected (512, 2)" in wide_failures["sample shape and dtype"]


def test_contract_rejects_bad_decode_and_architecture():
    class BadDecode(Square):
        def decode(self, samples: torch.Tensor):
            return samples[:, :1].numpy()

    class UnknownArchitecture(Square):
        recipes = {"default": RECIPE.replace(architecture="no-such-architecture")}

    decode_failures = {r.name: r.detail for r in check_pattern(BadDecode()) if not r.passed}
    arch_failures = {r.name: r.detail for r in check_pattern(UnknownArchitecture()) if not r.passed}

    assert "1 values per sample, but columns names 2" in decode_failures["decoding"]
    assert "no-such-architecture" in arch_failures["generator survives torch.jit.script"]


def test_assert_contract_lists_failures():
    with pytest.raises(AssertionError, match=r"'Bad Name'.*\n  registration: .*lower-case"):
        assert_pattern_contract(Square("Bad Name"))


def test_check_pattern_command(use_plugins):
    class Outside(Square):
        def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
            return torch.rand(n, 2, generator=generator) + 1

    use_plugins(("test-plugin", patterns_plugin(Square(), Outside("test-outside"))))

    good = invoke("check-pattern", "test-square")
    bad = invoke("check-pattern", "test-outside")
    unknown = invoke("check-pattern", "test-squar")

    assert good.exit_code == 0, good.output
    assert good.stdout.count("PASS") == 6
    assert "all 6 checks passed" in good.stdout
    assert bad.exit_code == 1
    assert "FAIL  real samples meet the target" in bad.stdout
    assert "1 of 6 checks failed" in bad.stderr
    assert "did you mean test-square" in assert_clean_error(unknown, 2)


def test_hook_with_wrong_argument_skipped(use_plugins, capsys):
    @hookimpl
    def register_patterns(callback: Callable[[object], None]) -> None:
        callback(Square("test-never"))

    loaded = use_plugins(
        ("test-wrong-argument", SimpleNamespace(register_patterns=register_patterns)),
        ("test-good", patterns_plugin(Square())),
    )

    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("ganpat: warning: skipped plugin test-wrong-argument:")
    assert "{'callback'}" in warnings[0]
    assert "test-square" in loaded.registry.pattern_names()
    assert "test-never" not in loaded.registry.pattern_names()
