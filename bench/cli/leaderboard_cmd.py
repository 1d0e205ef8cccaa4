"""``robarena leaderboard``: build, diff, export and list snapshots.

Each handler takes the parsed arguments and returns an exit code; user errors raise
:class:`bench.errors.RobarenaError` subclasses (``main()`` prints ``ERROR: <message>``).
``diff`` exits 0 when the versions hold identical results and 1 when they differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.errors import LeaderboardError

DEFAULT_WORKDIR = ".robarena"


def _build(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import build_snapshot, is_valid_name, read_meta
    from bench.rows.io import validate_rows
    from bench.leaderboard.sources import RunArtifacts
    from bench.runner.results import load_rows  # the runner's results, imported only when needed

    suite_name = args.suite
    if not is_valid_name(suite_name) or suite_name.endswith(".toml"):  # a path or a qualified id
        from bench.runner.suite import resolve_suite

        suite_name = resolve_suite(args.suite).name
    rows = validate_rows(load_rows(Path(args.workdir), suite_name))
    if not rows:
        raise LeaderboardError(
            f"no results for suite {suite_name!r} in {args.workdir}; run `robarena run {args.suite} "
            f"--workdir {args.workdir}` first")
    name = suite_name
    artifacts = RunArtifacts.from_workdir(Path(args.workdir), suite_name)
    path = build_snapshot(rows, name, args.version, root=Path(args.root), notes=args.notes, artifacts=artifacts)
    meta = read_meta(Path(args.root), name, args.version)
    print(f"wrote leaderboard {name} {args.version} ({len(rows)} rows) to {path}: {len(meta.get('figures', []))} "
          f"plots, {len(meta.get('images', []))} task images; open {path / 'index.html'}")
    for note in meta.get("plot_notes", []):
        print(f"note: {note}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import load_snapshot
    from bench.leaderboard.diff import diff_snapshots, format_diff

    old = load_snapshot(args.root, args.suite, args.old)
    new = load_snapshot(args.root, args.suite, args.new)
    diff = diff_snapshots(old, new, atol=args.atol)
    print(f"leaderboard {args.suite}: {args.old} -> {args.new}")
    print(format_diff(diff))
    return 0 if diff.identical else 1


def _export(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import load_snapshot
    from bench.leaderboard.render import export

    text = export(load_snapshot(args.root, args.suite, args.version), args.format)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.format} export of {args.suite} {args.version} to {args.output}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import list_suites, list_versions, read_meta

    if args.suite is None:
        suites = list_suites(args.root)
        print("\n".join(suites) if suites else f"no leaderboards under {args.root}")
        return 0
    versions = list_versions(args.root, args.suite)
    if not versions:
        print(f"no versions of suite {args.suite!r} under {args.root}; build one with "
              f"`robarena leaderboard build {args.suite} --version v1`")
    for version in versions:
        meta = read_meta(args.root, args.suite, version)
        count = meta["row_count"]
        print(f"{version}\t{meta.get('created', '?')}\t{count} row{'' if count == 1 else 's'}")
    return 0


def _atol(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``leaderboard {build,diff,export,ls}``; each sub-command sets ``func`` (args -> exit code)."""
    parser = subparsers.add_parser(
        "leaderboard", help="build, compare and export versioned leaderboards",
        description="Immutable leaderboard snapshots under ROOT/<suite>/<version>/.")
    sub = parser.add_subparsers(dest="leaderboard_command", metavar="COMMAND", required=True)
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument("--root", default="leaderboard", help="leaderboard directory (default: %(default)s)")

    p = sub.add_parser("build", parents=[root], help="snapshot a suite's results as a new version")
    p.add_argument("suite", metavar="SUITE")
    p.add_argument("--version", required=True, help="new version name, e.g. v1 (never overwritten)")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR, help="run directory holding the results (default: %(default)s)")
    p.add_argument("--notes", default="", help="text for the snapshot's README")
    p.set_defaults(handler=_build)

    p = sub.add_parser("diff", parents=[root], help="what changed between two versions, and why")
    p.add_argument("suite", metavar="SUITE")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--atol", type=_atol, default=0.0, help="absolute tolerance per metric (default: exact)")
    p.set_defaults(handler=_diff)

    p = sub.add_parser("export", parents=[root], help="print a version as csv, jsonl, md or latex")
    p.add_argument("suite", metavar="SUITE")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--format", required=True, choices=["csv", "jsonl", "md", "latex"])
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.set_defaults(handler=_export)

    from bench.leaderboard import verify

    verify.add_parser(sub, root)

    p = sub.add_parser("ls", parents=[root], help="list a suite's versions (or, without SUITE, the suites)")
    p.add_argument("suite", metavar="SUITE", nargs="?")
    p.set_defaults(handler=_ls)
    return parser
