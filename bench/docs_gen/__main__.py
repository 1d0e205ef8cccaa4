"""``python -m bench.docs_gen [--write | --check]``: regenerate or check the generated documentation.

``--check`` (the default) exits 1 naming every stale file; ``--write`` rewrites them. The files: the
component reference (docs/attacks.md, docs/reference/*.md), README.md's headline table and its figure
(docs/img/quick-worst-case.png). Run from a source checkout with the built-in plugins installed.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from bench.docs_gen import REGENERATE, repo_root, stale_files, write_files


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.docs_gen", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the generated files that changed")
    action.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale (default)")
    parser.add_argument("--root", default=None, help="repository root (default: the checkout bench is imported from)")
    args = parser.parse_args(argv)
    root = args.root or repo_root()
    if args.write:
        written = write_files(root)
        print("\n".join(f"wrote {path}" for path in written) or "every generated file is up to date")
        return 0
    stale = stale_files(root)
    if stale:
        print("stale generated files: " + ", ".join(stale) + f"; regenerate with `{REGENERATE}`", file=sys.stderr)
        return 1
    print("every generated file is up to date")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
