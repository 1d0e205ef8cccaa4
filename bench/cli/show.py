"""``robarena show ROW``: a row's full provenance, metrics and artifacts, from a snapshot or a workdir."""
from __future__ import annotations

import argparse
import json

from bench.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="print one row's metrics, provenance and artifacts")
    p.add_argument("suite", help="suite name")
    p.add_argument("row", help="row id (or a unique substring of it)")
    p.add_argument("--version", default=None, help="leaderboard version (default: latest run in --workdir)")
    p.add_argument("--root", default="leaderboard", help="leaderboard root (default ./leaderboard)")
    p.add_argument("--workdir", default=".robarena")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.version:
        from pathlib import Path

        from bench.leaderboard.build import load_snapshot

        rows = load_snapshot(Path(args.root), args.suite, args.version)
    else:
        from bench.runner.results import load_rows

        rows = load_rows(args.workdir, args.suite)
    matches = [r for r in rows if r.row_id == args.row] or [r for r in rows if args.row in r.row_id]
    if len(matches) != 1:
        ids = ", ".join(r.row_id for r in rows)
        raise UsageError(f"{len(matches)} rows match {args.row!r}; rows: {ids}")
    print(json.dumps(matches[0].model_dump(mode="json"), indent=2))
    return 0
