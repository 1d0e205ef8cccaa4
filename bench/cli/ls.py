"""``robarena ls [KIND]``: every registered component with its id, spec version and distribution."""
from __future__ import annotations

import argparse

from bench import __version__

KINDS = {"datasets": "dataset", "models": "model", "defenses": "defense", "attacks": "attack",
         "probes": "probe", "tasks": "task", "suites": "suite", "claims": "claim"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list plugins and registered components")
    p.add_argument("what", nargs="?", default="all", choices=["all", "plugins", *KINDS],
                   help="what to list (default: plugins and every component)")
    p.set_defaults(handler=handle)


def plugin_header(registry) -> str:
    plugins = ", ".join(f"{p.header()} ({p.name})" for p in registry.plugins())
    return f"robarena {__version__}\nplugins: {plugins}"


def handle(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.registry import get_registry

    registry = get_registry(tuple(args.plugins))
    print(plugin_header(registry))
    if args.what == "plugins":
        rows = [(p.name, p.distribution, p.version, p.module) for p in registry.plugins()]
        print(tabulate(rows, headers=["plugin", "distribution", "version", "module"], tablefmt="simple"))
        return 0
    kinds = KINDS.items() if args.what == "all" else [(args.what, KINDS[args.what])]
    for title, kind in kinds:
        entries = registry.entries(kind)
        if not entries and args.what == "all":
            continue
        print(f"\n{title} ({len(entries)}):")
        rows = [(e.qualified_id, f"v{e.version}", f"{e.plugin.distribution}-{e.plugin.version}", e.spec.summary[:70])
                for e in entries]
        print(tabulate(rows, tablefmt="plain") if rows else "  (none)")
    return 0
