"""``robarena ls [KIND] [--long]``: every registered component with its id, spec version and distribution.

``--long`` prints each component's reference entry instead of one line: summary, paper, declared
capabilities (threat models, gradients, columns, ...), implementation and every parameter with its
type, default and description, the same information as the generated pages (``bench.docs_gen``),
wrapped to the terminal's width.
"""
from __future__ import annotations

import argparse

from bench import __version__

KINDS = {"datasets": "dataset", "models": "model", "defenses": "defense", "attacks": "attack",
         "probes": "probe", "tasks": "task", "corruptions": "corruption", "suites": "suite", "claims": "claim"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list plugins and registered components")
    p.add_argument("what", nargs="?", default="all", choices=["all", "plugins", *KINDS],
                   help="what to list (default: plugins and every component)")
    p.add_argument("--long", "-l", action="store_true",
                   help="one block per component: summary, paper, capabilities and every parameter with its type, "
                        "default and description (as docs/attacks.md and docs/reference/)")
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
        if getattr(args, "long", False):
            print_long(entries)
            continue
        rows = [(e.qualified_id, f"v{e.version}", f"{e.plugin.distribution}-{e.plugin.version}", e.spec.summary[:70])
                for e in entries]
        print(tabulate(rows, tablefmt="plain") if rows else "  (none)")
    return 0


def print_long(entries) -> None:
    """Each entry's reference block, separated by blank lines, wrapped to the terminal's width."""
    import shutil

    from bench.docs_gen.components import describe
    from bench.docs_gen.render import component_text

    width = shutil.get_terminal_size((100, 24)).columns
    if not entries:
        print("  (none)")
    for i, entry in enumerate(entries):
        if i:
            print()
        header = f"{entry.qualified_id}  v{entry.version}  {entry.plugin.header()}"
        print(component_text(describe(entry), width=width, header=header))
