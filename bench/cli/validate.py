"""``robarena validate [PLUGIN ...]``: plugins import, hooks are spelled right, specs and targets are valid.

With PLUGIN, only those plugins' components are checked (the rest are still loaded: suites resolve
against every plugin). A bare component name that several plugins register is a WARNING: it no
longer resolves (or resolves to one of them), and suites should use the qualified id."""
from __future__ import annotations

import argparse
import inspect
from typing import Optional


BASES = {"dataset": "Dataset", "defense": "Defense", "attack": "Attack", "probe": "Probe", "task": "Task",
         "model": "Classifier", "corruption": "Corruption"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check that every plugin (or the named ones) imports and honours the contracts")
    p.add_argument("plugin", nargs="*", metavar="PLUGIN",
                   help="check only these plugins' components (a plugin name as in 'robarena ls plugins', or its "
                        "distribution); default: every loaded plugin")
    p.set_defaults(handler=handle)


def selected_plugins(registry, wanted: list[str]) -> Optional[set[str]]:
    """Names of the plugins ``wanted`` names (by plugin or distribution name); None: all of them."""
    from bench.errors import UsageError

    if not wanted:
        return None
    infos = registry.plugins()
    chosen, unknown = set(), []
    for name in wanted:
        found = {p.name for p in infos if name in (p.name, p.distribution)}
        chosen |= found
        if not found:
            unknown.append(name)
    if unknown:
        names = ", ".join(f"{p.name} ({p.distribution})" for p in infos)
        raise UsageError(f"no plugin named {', '.join(map(repr, unknown))} is loaded; loaded plugins: {names}")
    return chosen


def check_entry(entry, registry=None) -> list[str]:
    """Problems with one registered component (empty when it conforms)."""
    import bench.api as api
    from bench.config import BaseConfig
    from bench.errors import RobarenaError

    problems = []
    if entry.kind in ("suite", "claim"):
        if entry.kind == "suite":
            from bench.runner.suite import resolve_suite

            try:
                resolve_suite(entry.qualified_id, registry)
            except RobarenaError as exc:
                problems.append(str(exc))
        return problems
    try:
        impl = entry.load()
    except RobarenaError as exc:
        return [str(exc)]
    base = getattr(api, BASES[entry.kind])
    if not (inspect.isclass(impl) and issubclass(impl, base)):
        problems.append(f"target {entry.spec.target} is not a subclass of bench.api.{base.__name__}")
        return problems
    config = getattr(impl, "Config", None)
    if not (inspect.isclass(config) and issubclass(config, BaseConfig)):
        problems.append(f"{impl.__name__}.Config must subclass bench.config.BaseConfig")
    elif config.model_config.get("extra") != "forbid":
        problems.append(f"{impl.__name__}.Config must forbid unknown keys (extra='forbid')")
    if entry.kind == "attack":
        declared = set(entry.spec.norms)
        supported = set(getattr(impl, "norms", ()))
        if not declared <= supported:
            problems.append(f"spec declares norms {sorted(declared)} but {impl.__name__}.norms is {sorted(supported)}")
        for flag, attr in (("targeted", "supports_targeted"), ("untargeted", "supports_untargeted")):
            if getattr(entry.spec, flag) and not getattr(impl, attr, False):
                problems.append(f"spec declares {flag}=True but {impl.__name__}.{attr} is False")
    return problems


def handle(args: argparse.Namespace) -> int:
    from bench.cli.ls import plugin_header
    from bench.errors import RobarenaError
    from bench.plugins import get_plugin_manager
    from bench.registry import Registry

    load_errors: list = []
    pm = get_plugin_manager(args.plugins, errors=load_errors)
    failures = [f"plugin load: {e}" for e in load_errors]
    try:
        pm.check_hooks()
        registry = Registry(pm)
    except RobarenaError as exc:
        failures.append(str(exc))
        registry = None
    if registry is not None:
        try:
            only = selected_plugins(registry, args.plugin)
        except RobarenaError:
            if not load_errors:
                raise
            only = set()  # a named plugin may be one that failed to load: report the load failures
        print(plugin_header(registry))
        for entry in registry:
            if only is not None and entry.plugin.name not in only:
                continue
            problems = check_entry(entry, registry)
            status = "ok" if not problems else "FAILED"
            print(f"  {status:6} {entry.kind:8} {entry.qualified_id} v{entry.version}")
            failures += [f"{entry.kind} {entry.qualified_id}: {p}" for p in problems]
        for shadow in registry.shadows():
            if only is None or only & set(shadow.plugins):
                print(f"WARNING: {shadow.message()}")
    if failures:
        print(f"\n{len(failures)} problem(s):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("\nall plugins valid" if not args.plugin else f"\nplugin(s) {', '.join(args.plugin)} valid")
    return 0
