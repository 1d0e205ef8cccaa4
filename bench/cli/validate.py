"""``robarena validate``: plugins import, hooks are spelled right, specs and targets are valid."""
from __future__ import annotations

import argparse
import inspect


BASES = {"dataset": "Dataset", "defense": "Defense", "attack": "Attack", "probe": "Probe", "task": "Task",
         "model": "Classifier"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check that every plugin imports and honours the contracts")
    p.set_defaults(handler=handle)


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
        print(plugin_header(registry))
        for entry in registry:
            problems = check_entry(entry, registry)
            status = "ok" if not problems else "FAILED"
            print(f"  {status:6} {entry.kind:8} {entry.qualified_id} v{entry.version}")
            failures += [f"{entry.kind} {entry.qualified_id}: {p}" for p in problems]
    if failures:
        print(f"\n{len(failures)} problem(s):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("\nall plugins valid")
    return 0
