"""Named items registered by plugins, validated as they arrive."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ganpat.architecture import Architecture
from ganpat.errors import PluginError, UsageProblem
from ganpat.pattern import NAME_RE, Pattern, PatternFamily
from ganpat.plotter import Plotter

Item = TypeVar("Item")


class DuplicateNameError(PluginError):
    """Two plugins registered the same name; ganpat cannot choose between them."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        super().__init__(
            f"{kind} {name!r} is registered by both plugin {first} and plugin {second}; uninstall one of them, "
            "or list only the other in GANPAT_LOAD_PLUGINS"
        )


@dataclass
class Entry(Generic[Item]):
    item: Item
    plugin: str


def _check_name(kind: str, name: object, plugin: str) -> str:
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin} registered a {kind} with no name")
    if not NAME_RE.fullmatch(name):
        raise PluginError(
            f"plugin {plugin} registered the {kind} name {name!r}: names are lower-case "
            "letters and digits joined by single hyphens"
        )
    return name


def _check_description(kind: str, name: str, item: object, plugin: str) -> None:
    description = getattr(item, "description", "")
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise PluginError(f"plugin {plugin} registered the {kind} {name!r} without a one-line description")


def _check_shape(name: str, shape: object, plugin: str) -> None:
    if (
        not isinstance(shape, tuple)
        or len(shape) != 1
        or not all(isinstance(d, int) and d > 0 for d in shape)
    ):
        raise PluginError(
            f"plugin {plugin} registered the pattern {name!r} with sample_shape {shape!r}: "
            "it must be a flat shape such as (2,)"
        )


@dataclass
class Registry:
    """Everything the loaded plugins registered."""

    patterns: dict[str, Entry[Pattern]] = field(default_factory=dict)
    families: dict[str, Entry[PatternFamily]] = field(default_factory=dict)
    architectures: dict[str, Entry[Architecture]] = field(default_factory=dict)
    plotters: dict[str, Entry[Plotter]] = field(default_factory=dict)

    # registration, called through the plugins' register callbacks

    def add_pattern(self, item: Pattern | PatternFamily, plugin: str) -> None:
        if isinstance(item, PatternFamily):
            self._add_family(item, plugin)
            return
        if not isinstance(item, Pattern):
            raise PluginError(f"plugin {plugin} registered {item!r}, which is not a Pattern or PatternFamily")
        name = _check_name("pattern", item.name, plugin)
        _check_description("pattern", name, item, plugin)
        _check_shape(name, item.sample_shape, plugin)
        if "default" not in item.recipes:
            raise PluginError(f"plugin {plugin} registered the pattern {name!r} without a 'default' recipe")
        owner = self._pattern_owner(name)
        if owner is not None:
            raise DuplicateNameError("pattern", name, owner, plugin)
        self.patterns[name] = Entry(item, plugin)

    def _add_family(self, family: PatternFamily, plugin: str) -> None:
        names = family.names()
        if not names:
            raise PluginError(f"plugin {plugin} registered the family {family.template!r} with no values")
        for name in (names[0], names[-1]):
            _check_name("pattern", name, plugin)
        _check_description("pattern family", family.template, family, plugin)
        _check_shape(family.template, family.sample_shape, plugin)
        for name in names:
            owner = self._pattern_owner(name)
            if owner is not None:
                raise DuplicateNameError("pattern", name, owner, plugin)
        self.families[family.template] = Entry(family, plugin)

    def _pattern_owner(self, name: str) -> str | None:
        if name in self.patterns:
            return self.patterns[name].plugin
        for entry in self.families.values():
            if entry.item.match(name) is not None:
                return entry.plugin
        return None

    def add_architecture(self, item: Architecture, plugin: str) -> None:
        _add_named(self.architectures, "architecture", Architecture, item, plugin)

    def add_plotter(self, item: Plotter, plugin: str) -> None:
        _add_named(self.plotters, "plotter", Plotter, item, plugin)

    # look-ups, used by the commands

    def pattern(self, name: str) -> Pattern:
        """Return the pattern called ``name`` or raise UsageProblem with close names."""
        if name in self.patterns:
            return self.patterns[name].item
        for entry in self.families.values():
            value = entry.item.match(name)
            if value is not None:
                return entry.item.build(value)
        for entry in self.families.values():
            family = entry.item
            if family.parameter_outside_range(name) or name == family.display_name:
                raise UsageProblem(
                    f"unknown pattern {name!r}: {family.display_name} takes "
                    f"{family.values_text} written without leading zeros"
                )
        raise UsageProblem(_unknown("pattern", name, self.pattern_names(), "ganpat list-patterns"))

    def pattern_plugin(self, name: str) -> str | None:
        return self._pattern_owner(name)

    def pattern_names(self) -> list[str]:
        names = list(self.patterns)
        for entry in self.families.values():
            names.extend(entry.item.names())
        return names

    def architecture(self, name: str) -> Architecture:
        if name in self.architectures:
            return self.architectures[name].item
        raise UsageProblem(_unknown("architecture", name, list(self.architectures), "ganpat list-architectures"))

    def plotter(self, name: str) -> Plotter:
        if name in self.plotters:
            return self.plotters[name].item
        raise UsageProblem(
            f"unknown plotter {name!r}; available plotters: {', '.join(sorted(self.plotters)) or 'none'}"
        )

    def names_by_plugin(self) -> dict[str, list[str]]:
        """Map each plugin to the names it registered."""
        owned: dict[str, list[str]] = {}
        for table in (self.patterns, self.architectures, self.plotters):
            for name, entry in table.items():
                owned.setdefault(entry.plugin, []).append(name)
        for entry in self.families.values():
            owned.setdefault(entry.plugin, []).append(entry.item.display_name)
        return owned


def _add_named(table: dict[str, Entry[Any]], kind: str, base: type, item: Any, plugin: str) -> None:
    """Validate an architecture or plotter and store it in ``table`` under its name."""
    if not isinstance(item, base):
        raise PluginError(f"plugin {plugin} registered {item!r}, which is not a {base.__name__}")
    name = _check_name(kind, item.name, plugin)
    _check_description(kind, name, item, plugin)
    if name in table:
        raise DuplicateNameError(kind, name, table[name].plugin, plugin)
    table[name] = Entry(item, plugin)


def _unknown(kind: str, name: str, choices: list[str], command: str) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown {kind} {name!r}; {hint}run '{command}' to see them all"
