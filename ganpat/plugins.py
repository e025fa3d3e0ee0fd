"""The plugin manager: built-in plugins, installed entry points, and their registrations.

Installed distributions declare an entry point in the ``ganpat`` group. The
``GANPAT_LOAD_PLUGINS`` environment variable limits which are loaded: unset loads
all, an empty string loads none, and a comma-separated list of distribution names
loads only those.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Callable

import pluggy

from ganpat import hookspecs
from ganpat.errors import GanpatError, PluginError
from ganpat.registry import DuplicateNameError, Registry

log = logging.getLogger(__name__)

BUILTIN_MODULES = (
    "ganpat.builtin.curves",
    "ganpat.builtin.onehot",
    "ganpat.builtin.architectures",
    "ganpat.builtin.plotters",
)
BUILTIN_PREFIX = "ganpat.builtin."
ENV_VAR = "GANPAT_LOAD_PLUGINS"

# hook name -> Registry method that validates and stores one item
HOOKS: dict[str, str] = {
    "register_patterns": "add_pattern",
    "register_architectures": "add_architecture",
    "register_plotters": "add_plotter",
}


@dataclass
class PluginInfo:
    """One loaded plugin, as ``ganpat plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False


@dataclass
class Loaded:
    manager: pluggy.PluginManager
    registry: Registry
    plugins: list[PluginInfo]


_loaded: Loaded | None = None


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    print(f"ganpat: warning: {message}", file=sys.stderr)


def normalize(name: str) -> str:
    """Return a distribution name in its PEP 503 normal form, so ganpat_toy2d matches ganpat-toy2d."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _selected_distributions() -> dict[str, str] | None:
    """Map the normalized names listed in GANPAT_LOAD_PLUGINS to the names as written; None when unset."""
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    return {normalize(name.strip()): name.strip() for name in value.split(",") if name.strip()}


def _load_entry_points(manager: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
    selected = _selected_distributions()
    found: set[str] = set()
    for entry_point in entry_points(group="ganpat"):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else entry_point.name
        found.add(normalize(dist_name))
        if selected is not None and normalize(dist_name) not in selected:
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken plugin must not break ganpat
            warn(f"skipped plugin {dist_name}: {type(error).__name__}: {_one_line(error)}")
            log.debug("traceback of plugin %s", dist_name, exc_info=True)
            continue
        name = entry_point.name if dist is None else f"{dist_name}:{entry_point.name}"
        if not _register(manager, plugin, name, dist_name):
            continue
        infos.append(PluginInfo(name, dist_name, dist.version if dist is not None else None))
    for missing in sorted(set(selected or {}) - found):
        warn(
            f"{ENV_VAR} names {selected[missing]!r}, but no installed distribution with that name "  # type: ignore[index]
            "provides ganpat plugins; run 'ganpat plugins' with it unset to see the installed ones"
        )


def build_manager(extra: list[tuple[str, Any]] = ()) -> Loaded:
    """Load built-in and installed plugins, plus ``extra`` (name, plugin) pairs, and run their hooks."""
    manager = pluggy.PluginManager("ganpat")
    manager.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        manager.register(module, name=module_name)
        infos.append(PluginInfo(module_name, "ganpat", _version(), builtin=True))
    _load_entry_points(manager, infos)
    for name, plugin in extra:
        if _register(manager, plugin, name, name):
            infos.append(PluginInfo(name, None, None))
    _check_pending(manager, infos)
    registry = _collect(manager, infos)
    return Loaded(manager, registry, infos)


def _register(manager: pluggy.PluginManager, plugin: Any, name: str, label: str) -> bool:
    """Register one third-party plugin; on failure warn, naming ``label``, and return False."""
    try:
        manager.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as error:
        # pluggy raises ValueError for a module already registered, and PluginValidationError
        # for a hook implementation whose arguments the hook specification does not have
        warn(f"skipped plugin {label}: {_one_line(error)}")
        return False
    return True


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _check_pending(manager: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        plugin_name = manager.get_name(error.plugin) or repr(error.plugin)
        if plugin_name.startswith(BUILTIN_PREFIX):
            raise
        warn(f"skipped plugin {plugin_name}: {_one_line(error)}")
        manager.unregister(error.plugin)
        infos[:] = [info for info in infos if info.name != plugin_name]
        _check_pending(manager, infos)


def _collect(manager: pluggy.PluginManager, infos: list[PluginInfo]) -> Registry:
    """Call every registration hook, one plugin at a time, so each item is tied to its plugin."""
    registry = Registry()
    by_name = {info.name: info for info in infos}
    for hook_name, method_name in HOOKS.items():
        add: Callable[[Any, str], None] = getattr(registry, method_name)
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            info = by_name[impl.plugin_name]
            info.hooks.append(hook_name)
            label = info.distribution if info.distribution and not info.builtin else impl.plugin_name
            items: list[Any] = []
            try:
                impl.function(register=items.append)
            except Exception as error:  # a broken plugin must not break ganpat
                if info.builtin:
                    raise
                warn(f"skipped {hook_name} of plugin {label}: {type(error).__name__}: {_one_line(error)}")
                log.debug("traceback of plugin %s", label, exc_info=True)
                continue
            for item in items:
                try:
                    add(item, label)
                except DuplicateNameError:
                    raise
                except PluginError as error:
                    # an invalid item is rejected alone; the plugin's valid items stay usable
                    if info.builtin:
                        raise
                    warn(f"skipped an item: {error}")
    return registry


def _version() -> str:
    from ganpat import __version__

    return __version__


def load(refresh: bool = False) -> Loaded:
    """Return the plugins and registry of this process, loading them on first use."""
    global _loaded
    if _loaded is None or refresh:
        _loaded = build_manager()
    return _loaded


def registry() -> Registry:
    return load().registry


def use(extra: list[tuple[str, ModuleType | object]]) -> Loaded:
    """Reload every plugin plus ``extra``; for tests and embedding."""
    global _loaded
    _loaded = build_manager(extra)
    return _loaded


def reset() -> None:
    global _loaded
    _loaded = None


__all__ = ["GanpatError", "PluginError", "PluginInfo", "build_manager", "load", "registry", "use", "reset"]
