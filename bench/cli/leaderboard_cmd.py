"""``robarena leaderboard``: build, diff, export and list snapshots.

Each handler takes the parsed arguments and returns an exit code; user errors raise
:class:`bench.errors.RobarenaError` subclasses (``main()`` prints ``ERROR: <message>``).
``diff`` exits 0 when the versions hold identical results and 1 when they differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

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
    description, claims = _page_context(args, suite_name, rows)
    compare = _compare_with(args, name)
    path = build_snapshot(rows, name, args.version, root=Path(args.root), notes=args.notes, artifacts=artifacts,
                          description=description, claims=claims, compare_with=compare)
    meta = read_meta(Path(args.root), name, args.version)
    held = sum(1 for c in claims if c.result.holds is True)
    print(f"wrote leaderboard {name} {args.version} ({len(rows)} rows) to {path}: {len(meta.get('figures', []))} "
          f"plots, {len(meta.get('images', []))} task images, {held} of {len(claims)} claims hold"
          + (f", changes since {compare} in {meta['compare']['file']}" if compare else "")
          + f"; open {path / 'index.html'}")
    for note in meta.get("plot_notes", []):
        print(f"note: {note}")
    return 0


def _page_context(args: argparse.Namespace, suite_name: str, rows: list) -> tuple[str, list]:
    """The suite's description (its spec's and its file's) and its registered claims evaluated on ``rows``."""
    from bench.claims import claims_for, evaluate_claims
    from bench.errors import RobarenaError
    from bench.registry import get_registry
    from bench.rows.frame import to_frame
    from bench.runner.suite import resolve_suite

    registry = get_registry(tuple(getattr(args, "plugins", None) or ()))
    parts = []
    try:
        spec = registry.get("suite", args.suite).spec
        parts.append(spec.description or spec.summary)
    except (RobarenaError, KeyError, LookupError):
        pass  # a suite file, or results of a suite no plugin registers
    try:
        parts.append(resolve_suite(args.suite, registry).description)
    except (RobarenaError, OSError, ValueError):
        pass
    description = "\n\n".join(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
    return description, evaluate_claims(claims_for(registry, suite_name), to_frame(rows))


def _compare_with(args: argparse.Namespace, suite: str) -> Optional[str]:
    """``--compare``: the named version, none, or (default) the latest existing version of the suite."""
    from bench.leaderboard.build import list_versions

    if args.compare == "none":
        return None
    if args.compare is not None:
        return args.compare
    earlier = [v for v in list_versions(Path(args.root), suite) if v != args.version]
    return earlier[-1] if earlier else None


def _diff(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import load_snapshot
    from bench.leaderboard.diff import diff_snapshots, format_diff

    old = load_snapshot(args.root, args.suite, args.old)
    new = load_snapshot(args.root, args.suite, args.new)
    diff = diff_snapshots(old, new, atol=args.atol)
    print(f"leaderboard {args.suite}: {args.old} -> {args.new}")
    print(format_diff(diff))
    if args.html:
        from bench.leaderboard.compare_page import render_compare

        Path(args.html).write_text(render_compare(diff, suite=args.suite, old=args.old, new=args.new),
                                   encoding="utf-8")
        print(f"wrote the compare page to {args.html}")
    return 0 if diff.identical else 1


def _export(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import load_snapshot
    from bench.leaderboard.render import export

    if args.format == "model-info":  # one RobustBench model-info JSON per row and threat, in a directory
        from bench.leaderboard.model_info import export_model_info

        if args.output in (None, "-") or Path(args.output).is_file():
            raise LeaderboardError("--format model-info writes one JSON file per row and threat: give -o DIRECTORY")
        written = export_model_info(load_snapshot(args.root, args.suite, args.version), args.output)
        print(f"wrote {len(written)} model-info file{'' if len(written) == 1 else 's'} of {args.suite} "
              f"{args.version} under {args.output}")
        return 0
    text = export(load_snapshot(args.root, args.suite, args.version), args.format)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:  # a directory, a missing parent folder, no permission
            what = "is a directory" if Path(args.output).is_dir() else f"cannot be written ({exc.strerror})"
            raise LeaderboardError(f"-o {args.output} {what}; give the path of a file to write") from None
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
    p.add_argument("--compare", default=None, metavar="OLD",
                   help="earlier version to write a compare page against (default: the latest existing version; "
                        "'none' for no compare page)")
    p.set_defaults(handler=_build)

    p = sub.add_parser("diff", parents=[root], help="what changed between two versions, and why")
    p.add_argument("suite", metavar="SUITE")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--atol", type=_atol, default=0.0, help="absolute tolerance per metric (default: exact)")
    p.add_argument("--html", default=None, metavar="FILE", help="also write the comparison as a static web page")
    p.set_defaults(handler=_diff)

    p = sub.add_parser("export", parents=[root], help="print a version as csv, jsonl, md or latex, or write "
                       "RobustBench model-info JSON files")
    p.add_argument("suite", metavar="SUITE")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--format", required=True, choices=["csv", "jsonl", "md", "latex", "model-info"],
                   help="model-info: one RobustBench model-info JSON per row and Linf/L2 threat, under -o DIRECTORY")
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout); the directory for "
                   "--format model-info")
    p.set_defaults(handler=_export)

    from bench.leaderboard import verify

    verify.add_parser(sub, root)

    p = sub.add_parser("ls", parents=[root], help="list a suite's versions (or, without SUITE, the suites)")
    p.add_argument("suite", metavar="SUITE", nargs="?")
    p.set_defaults(handler=_ls)
    return parser
