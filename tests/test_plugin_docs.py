"""docs/writing-plugins.md documents every hook in ganpat/hookspecs.py, with its parameters."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ganpat import hookspecs

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"
REFERENCE_HEADING = "## Hook reference"


def hook_specs() -> dict[str, inspect.Signature]:
    """Map each hook specification in ganpat.hookspecs to its signature."""
    specs = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, "ganpat_spec"):
            specs[name] = inspect.signature(function)
    return specs


def reference_sections() -> dict[str, str]:
    """Map each hook heading (### `name`) under the hook reference to the text of its section."""
    text = GUIDE.read_text(encoding="utf-8")
    assert REFERENCE_HEADING in text, f"{GUIDE.name} has no '{REFERENCE_HEADING}' section"
    reference = text.split(REFERENCE_HEADING, 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### `([a-z_]+)`\s*$", reference, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_hookspecs_found():
    assert set(hook_specs()) >= {"register_patterns", "register_architectures", "register_plotters"}


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_hook_documented_with_parameters(hook):
    sections = reference_sections()

    assert hook in sections, f"{GUIDE.name} has no '### `{hook}`' heading under '{REFERENCE_HEADING}'"
    section = sections[hook]
    assert f"def {hook}(" in section
    for parameter in hook_specs()[hook].parameters:
        assert f"- `{parameter}`:" in section, f"parameter {parameter} of {hook} is not described"


def test_reference_lists_only_real_hooks():
    assert set(reference_sections()) == set(hook_specs())
