"""The registry: every spec by qualified id ``<plugin>/<method>``, implementations imported lazily.

Built from a plugin manager by calling each registration hook implementation separately,
so every spec is attributed to the plugin (and distribution) that returned it.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from pydantic import ValidationError

from bench.errors import PluginValidationError, RegistryCollisionError, UnknownComponentError
from bench.hookspecs import REGISTRATION_HOOKS
from bench.plugins import PluginInfo, RobarenaPluginManager, get_plugin_manager
from bench.specs import SPEC_TYPES, ComponentSpec


@dataclass(frozen=True)
class Entry:
    """A registered component: its qualified id, spec and the plugin that registered it."""

    qualified_id: str
    spec: Any
    plugin: PluginInfo

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def version(self) -> str:
        return self.spec.version

    def load(self) -> Any:
        """Import and return the implementation named by ``spec.target``."""
        return resolve_target(self.spec.target, what=f"{self.kind} {self.qualified_id!r}")


def resolve_target(target: str, what: str = "target") -> Any:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PluginValidationError(
            f"{what}: cannot import {target!r} ({type(exc).__name__}: {exc}); "
            "check the spec's target and that the plugin is installed"
        ) from exc
    return obj


class Registry:
    """Specs of every kind, looked up by qualified id (or by a bare name when unambiguous)."""

    def __init__(self, pm: RobarenaPluginManager) -> None:
        self.pm = pm
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in REGISTRATION_HOOKS}
        for kind, hook_name in REGISTRATION_HOOKS.items():
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                info = pm.infos.get(impl.plugin_name) or PluginInfo(
                    impl.plugin_name, str(impl.plugin), "local", "0"
                )
                self._collect(kind, impl, info)

    def _collect(self, kind: str, impl: Any, info: PluginInfo) -> None:
        where = f"plugin {info.name!r} ({info.distribution} {info.version}), hook {REGISTRATION_HOOKS[kind]}"
        try:
            returned = impl.function()
        except Exception as exc:
            raise PluginValidationError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        if returned is None:
            return
        if not isinstance(returned, (list, tuple)):
            raise PluginValidationError(f"{where} must return a list of specs, got {type(returned).__name__}")
        spec_type = SPEC_TYPES[kind]
        for item in returned:
            if isinstance(item, dict):
                try:
                    item = spec_type(**item)
                except ValidationError as exc:
                    raise PluginValidationError(f"{where}: invalid spec {item!r}: {exc}") from exc
            if not isinstance(item, spec_type):
                raise PluginValidationError(
                    f"{where} returned {type(item).__name__}, expected {spec_type.__name__}"
                )
            qid = f"{info.name}/{item.name}"
            previous = self._entries[kind].get(qid)
            if previous is not None:
                raise RegistryCollisionError(
                    f"{kind} id {qid!r} is registered twice: by {previous.plugin.header()} "
                    f"(target {previous.spec.target}) and by {info.header()} (target {item.target}). "
                    f"Uninstall one distribution or block one plugin with -p no:NAME"
                )
            self._entries[kind][qid] = Entry(qid, item, info)

    # ------------------------------------------------------------------ lookup
    def entries(self, kind: str) -> list[Entry]:
        return sorted(self._entries[kind].values(), key=lambda e: e.qualified_id)

    def ids(self, kind: str) -> list[str]:
        return [e.qualified_id for e in self.entries(kind)]

    def get(self, kind: str, ident: str) -> Entry:
        """Look ``ident`` up; a bare method name works when exactly one plugin registers it.

        ``timm/<name>`` is a model id for any timm architecture (built with ``pretrained=False``).
        """
        table = self._entries[kind]
        if kind == "model" and ident.startswith("timm/") and ident not in table:
            from bench.timm_models import timm_entry

            return timm_entry(ident)
        if ident in table:
            return table[ident]
        if "/" not in ident:
            matches = [e for e in table.values() if e.spec.name == ident]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(sorted(m.qualified_id for m in matches))
                raise UnknownComponentError(f"{kind} {ident!r} is ambiguous: use one of {names}")
        hints = difflib.get_close_matches(ident, list(table) + [e.spec.name for e in table.values()], n=3)
        hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
        available = ", ".join(sorted(table)) or "(none installed)"
        raise UnknownComponentError(
            f"unknown {kind} {ident!r}.{hint} Available: {available}. "
            "Run 'robarena ls' to list components, or install the plugin that provides it."
        )

    def has(self, kind: str, ident: str) -> bool:
        try:
            self.get(kind, ident)
        except UnknownComponentError:
            return False
        return True

    def plugins(self) -> list[PluginInfo]:
        return sorted(self.pm.infos.values(), key=lambda p: p.name)

    def __iter__(self) -> Iterable[Entry]:
        for kind in self._entries:
            yield from self.entries(kind)


_CACHE: dict[tuple, Registry] = {}


def get_registry(plugins: Iterable[str] = (), autoload: Optional[bool] = None, fresh: bool = False) -> Registry:
    """Build (or reuse) the registry for these plugin options."""
    from bench.plugins import autoload_enabled

    key = (tuple(plugins), autoload_enabled() if autoload is None else autoload)
    if fresh or key not in _CACHE:
        pm = get_plugin_manager(plugins, autoload)
        pm.check_hooks()  # a misspelled hook is an error, as in pytest
        _CACHE[key] = Registry(pm)
    return _CACHE[key]


def spec_of(entry: Entry) -> ComponentSpec:
    return entry.spec
