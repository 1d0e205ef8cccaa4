"""The registry: every spec by qualified id ``<plugin>/<method>``, implementations imported lazily.

Built from a plugin manager by calling each registration hook implementation separately,
so every spec is attributed to the plugin (and distribution) that returned it. Ids that no
plugin registers can still be resolved by a :class:`Resolver` (``timm/<name>`` models are one).
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, Literal, Optional, TypeVar, Union, overload

from pydantic import ValidationError

from bench.errors import PluginValidationError, RegistryCollisionError, UnknownComponentError
from bench.hookspecs import REGISTRATION_HOOKS
from bench.plugins import PluginInfo, RobarenaPluginManager, get_plugin_manager
from bench.specs import (SPEC_TYPES, AttackSpec, ClaimSpec, ComponentSpec, DatasetSpec, DefenseSpec, Kind,
                         ModelSpec, ProbeSpec, SuiteSpec, TaskSpec)

SpecT = TypeVar("SpecT", bound=ComponentSpec, covariant=True)
KindName = Union[Kind, str]


@dataclass(frozen=True)
class Entry(Generic[SpecT]):
    """A registered component: its qualified id, its spec (of its kind's spec type) and its plugin."""

    qualified_id: str
    spec: SpecT
    plugin: PluginInfo

    @property
    def kind(self) -> Kind:
        return Kind(self.spec.kind)

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


@dataclass(frozen=True)
class Resolver:
    """Makes entries on demand for ``kind`` ids that start with ``prefix`` and that no plugin registers.

    ``make(ident)`` returns the :class:`Entry` or raises :class:`UnknownComponentError` saying why
    the id is unknown (e.g. ``timm/<name>`` for any timm architecture, see :mod:`bench.timm_models`).
    """

    kind: Kind
    prefix: str
    make: Callable[[str], Entry[ComponentSpec]]

    def handles(self, kind: Kind, ident: str) -> bool:
        return kind == self.kind and ident.startswith(self.prefix)


#: Resolvers that ship with robarena, as lazy ``"module:attr"`` references: imported on the first
#: id that no plugin registers, so the registry imports none of them (and they may import it).
BUILTIN_RESOLVERS = ("bench.timm_models:RESOLVER",)
_extra_resolvers: list[Resolver] = []


def register_resolver(resolver: Resolver) -> None:
    """Consult ``resolver`` (after the built-in ones) for ids no plugin registers, in every registry."""
    if resolver not in _extra_resolvers:
        _extra_resolvers.append(resolver)


def resolvers() -> list[Resolver]:
    """The built-in resolvers, then those added with :func:`register_resolver`."""
    builtin = [resolve_target(ref, what="built-in resolver") for ref in BUILTIN_RESOLVERS]
    return builtin + list(_extra_resolvers)


class Registry:
    """Specs of every kind, looked up by qualified id (or by a bare name when unambiguous)."""

    def __init__(self, pm: RobarenaPluginManager) -> None:
        self.pm = pm
        self._entries: dict[Kind, dict[str, Entry[ComponentSpec]]] = {kind: {} for kind in Kind}
        for kind in Kind:
            hook = getattr(pm.hook, REGISTRATION_HOOKS[kind])
            for impl in hook.get_hookimpls():
                info = pm.infos.get(impl.plugin_name) or PluginInfo(
                    impl.plugin_name, str(impl.plugin), "local", "0"
                )
                self._collect(kind, impl, info)

    def _collect(self, kind: Kind, impl: Any, info: PluginInfo) -> None:
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
    def entries(self, kind: KindName) -> list[Entry[ComponentSpec]]:
        """The registered entries of ``kind``, by qualified id (resolvable ids are not listed)."""
        return sorted(self._entries[Kind.parse(kind)].values(), key=lambda e: e.qualified_id)

    def ids(self, kind: KindName) -> list[str]:
        return [e.qualified_id for e in self.entries(kind)]

    @overload
    def get(self, kind: Literal[Kind.DATASET, "dataset"], ident: str) -> Entry[DatasetSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.MODEL, "model"], ident: str) -> Entry[ModelSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.DEFENSE, "defense"], ident: str) -> Entry[DefenseSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.ATTACK, "attack"], ident: str) -> Entry[AttackSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.PROBE, "probe"], ident: str) -> Entry[ProbeSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.TASK, "task"], ident: str) -> Entry[TaskSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.SUITE, "suite"], ident: str) -> Entry[SuiteSpec]: ...
    @overload
    def get(self, kind: Literal[Kind.CLAIM, "claim"], ident: str) -> Entry[ClaimSpec]: ...
    @overload
    def get(self, kind: KindName, ident: str) -> Entry[ComponentSpec]: ...

    def get(self, kind: KindName, ident: str) -> Entry[ComponentSpec]:
        """Look ``ident`` up; a bare method name works when exactly one plugin registers it.

        Ids that no plugin registers go to the first :class:`Resolver` that handles them
        (``timm/<name>`` is a model id for any timm architecture, built with ``pretrained=False``).
        """
        kind = Kind.parse(kind)
        table = self._entries[kind]
        if ident in table:
            return table[ident]
        if "/" not in ident:
            matches = [e for e in table.values() if e.spec.name == ident]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(sorted(m.qualified_id for m in matches))
                raise UnknownComponentError(f"{kind} {ident!r} is ambiguous: use one of {names}")
        for resolver in resolvers():
            if resolver.handles(kind, ident):
                return resolver.make(ident)
        hints = difflib.get_close_matches(ident, list(table) + [e.spec.name for e in table.values()], n=3)
        hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
        available = ", ".join(sorted(table)) or "(none installed)"
        raise UnknownComponentError(
            f"unknown {kind} {ident!r}.{hint} Available: {available}. "
            "Run 'robarena ls' to list components, or install the plugin that provides it."
        )

    def has(self, kind: KindName, ident: str) -> bool:
        try:
            self.get(kind, ident)
        except UnknownComponentError:
            return False
        return True

    def plugins(self) -> list[PluginInfo]:
        return sorted(self.pm.infos.values(), key=lambda p: p.name)

    def shadows(self) -> list["Shadow"]:
        """Bare names that several plugins register for one kind, with what the bare name resolves to."""
        out = []
        for kind in Kind:
            by_name: dict[str, list[Entry[ComponentSpec]]] = {}
            for entry in self.entries(kind):
                by_name.setdefault(entry.spec.name, []).append(entry)
            for name, entries in sorted(by_name.items()):
                if len(entries) < 2:
                    continue
                try:
                    resolved: Optional[str] = self.get(kind, name).qualified_id
                except UnknownComponentError:
                    resolved = None
                out.append(Shadow(kind, name, tuple(entries), resolved))
        return out

    def __iter__(self) -> Iterator[Entry[ComponentSpec]]:
        for kind in Kind:
            yield from self.entries(kind)


@dataclass(frozen=True)
class Shadow:
    """A bare component name that more than one plugin registers (e.g. a third-party ``pgd`` next to
    ``classics/pgd``): ``resolved`` is the qualified id a bare name resolves to, None when it is ambiguous."""

    kind: Kind
    name: str
    entries: tuple[Entry[ComponentSpec], ...]
    resolved: Optional[str]

    @property
    def plugins(self) -> list[str]:
        return [e.plugin.name for e in self.entries]

    def message(self) -> str:
        owners = " and ".join(f"{e.qualified_id} ({e.plugin.header()})" for e in self.entries)
        if self.resolved is None:
            outcome = (f"a bare {self.name!r} now resolves to none of them: it is ambiguous and fails wherever "
                       "a suite, a command or an example names it")
        else:
            outcome = f"a bare {self.name!r} resolves to {self.resolved}"
        return (f"{self.kind} name {self.name!r} is registered by {owners}: {outcome}; suites and commands should "
                f"use the qualified id (e.g. {self.entries[0].qualified_id!r})")


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


def spec_of(entry: Entry[SpecT]) -> SpecT:
    return entry.spec
