"""``robarena plugin new NAME``: scaffold a third-party plugin distribution."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugin", help="plugin author tools: 'plugin new NAME' scaffolds a distribution")
    psub = p.add_subparsers(dest="plugin_command", metavar="ACTION")
    psub.required = True
    new = psub.add_parser("new", help="write a plugin distribution that installs and passes its own tests")
    new.add_argument("name", help="plugin name, e.g. my-attacks (ids become my-attacks/<method>)")
    new.add_argument("--dir", default=None, help="target directory (default ./robarena-NAME)")
    new.add_argument("--force", action="store_true", help="write into a non-empty directory")
    new.set_defaults(handler=handle_new)


def handle_new(args: argparse.Namespace) -> int:
    from bench.scaffold import create, names_for

    values = names_for(args.name)
    directory = Path(args.dir) if args.dir else Path(values["dist"])
    written = create(args.name, directory, force=args.force)
    print(f"wrote {len(written)} files into {directory}:")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"\nnext:\n  pip install -e {directory}\n  robarena validate\n  python -m pytest {directory / 'tests'} -q\n"
          f"  robarena mock-run {values['name']}")
    return 0
