"""The plugin manager: discovers ``robarena.plugins`` entry points, like pytest's ``pytest11``.

* ``-p NAME`` loads a plugin by entry-point name (or a ``module`` path) even when autoloading
  is off; ``-p no:NAME`` blocks one.
* ``ROBARENA_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point scanning off.
* Every loaded plugin is recorded as :class:`PluginInfo` (name, distribution, version); those
  versions are pinned into every result row.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Iterable, Optional

import pluggy

from bench import __version__, hookspecs
from bench.errors import PluginLoadError, PluginValidationError

ENTRY_POINT_GROUP = "robarena.plugins"
AUTOLOAD_ENV = "ROBARENA_DISABLE_PLUGIN_AUTOLOAD"
CORE_PLUGINS = {"core": "bench.data.plugin"}


@dataclass(frozen=True)
class PluginInfo:
    name: str
    module: str
    distribution: str
    version: str

    def header(self) -> str:
        return f"{self.distribution}-{self.version}"


def _parse_plugin_args(args: Iterable[str]) -> tuple[list[str], set[str]]:
    wanted, blocked = [], set()
    for arg in args:
        if arg.startswith("no:"):
            blocked.add(arg[3:])
        else:
            wanted.append(arg)
    return wanted, blocked


def autoload_enabled() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


class RobarenaPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution every plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def register_module(self, name: str, module_name: str, distribution: str, version: str) -> None:
        if name in self.infos:
            other = self.infos[name]
            if other.module == module_name:
                return  # the same plugin reached twice (entry point and -p): harmless
            raise PluginLoadError(
                f"plugin name {name!r} is used by both {other.distribution} ({other.module}) and "
                f"{distribution} ({module_name}); uninstall one of them or block one with -p no:{name}"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must be named, not crash with a bare traceback
            raise PluginLoadError(
                f"plugin {name!r} (distribution {distribution} {version}) failed to import "
                f"module {module_name!r}: {type(exc).__name__}: {exc}. Fix or reinstall it, "
                f"or skip it with -p no:{name}"
            ) from exc
        try:
            self.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginValidationError(f"plugin {name!r} ({distribution}): {exc}") from exc
        self.infos[name] = PluginInfo(name, module_name, distribution, version)

    def check_hooks(self) -> None:
        """Raise if a plugin implements a ``robarena_*`` hook that does not exist (a misspelling)."""
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            known = sorted(h for h in dir(hookspecs) if h.startswith("robarena_"))
            raise PluginValidationError(f"{exc}. Known hooks: {', '.join(known)}") from exc


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def get_plugin_manager(
    plugins: Iterable[str] = (), autoload: Optional[bool] = None, errors: Optional[list] = None
) -> RobarenaPluginManager:
    """Build a manager with the core plugin, autoloaded entry points and ``-p`` plugins.

    With ``errors`` given, plugins that fail to load are reported there and skipped
    (``robarena validate``); otherwise the first failure raises :class:`PluginLoadError`.
    """
    wanted, blocked = _parse_plugin_args(plugins)
    if autoload is None:
        autoload = autoload_enabled()
    pm = RobarenaPluginManager()
    if errors is not None:
        register = pm.register_module

        def tolerant(*a: str) -> None:
            try:
                register(*a)
            except (PluginLoadError, PluginValidationError) as exc:
                errors.append(exc)

        pm.register_module = tolerant  # type: ignore[method-assign]
    for name, module in CORE_PLUGINS.items():
        pm.register_module(name, module, "robarena", __version__)
    eps = {ep.name: ep for ep in _entry_points()}
    for name in sorted(eps):
        if name in blocked or (not autoload and name not in wanted):
            continue
        ep = eps[name]
        dist = ep.dist.name if ep.dist is not None else "unknown"
        ver = ep.dist.version if ep.dist is not None else "0"
        pm.register_module(name, ep.value.split(":")[0], dist, ver)
    for name in wanted:
        if name in pm.infos or name in blocked:
            continue
        if name in eps:
            ep = eps[name]
            pm.register_module(name, ep.value.split(":")[0], ep.dist.name, ep.dist.version)
        else:  # -p some.module: a plugin that is a module on sys.path, not an installed dist
            pm.register_module(name.rsplit(".", 1)[-1], name, "local", "0")
    return pm
