"""``robarena claims SUITE``: which of the papers' qualitative claims hold on a suite's results, each
with its verdict (holds / does not hold / inconclusive / error, or not checked), test, level and p-value."""
from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="check the registered claims of a suite against its results")
    p.add_argument("suite", help="suite name, e.g. p4-cpu (results of its latest run in --workdir)")
    p.add_argument("--workdir", default=".robarena", help="work directory of the run (default ./.robarena)")
    p.add_argument("--version", default=None, help="check a published leaderboard version instead of the workdir")
    p.add_argument("--root", default="leaderboard", help="leaderboard root for --version (default ./leaderboard)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--all", action="store_true", help="also each claim's statement, test, level, statistic, "
                   "p-values, interval, every number and the full detail (the default table shows the verdict, "
                   "the p-value and one line of evidence, cut to the terminal width)")
    p.add_argument("--strict", action="store_true", help="exit 1 unless every claim holds (a claim that does not "
                   "hold, is inconclusive, raised an error or could not be checked)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bench.claims import claims_for, evaluate_claims, outcomes_json, summary
    from bench.cli.tables import print_claims
    from bench.errors import UsageError
    from bench.rows.frame import to_frame
    from bench.registry import get_registry

    registry = get_registry(tuple(args.plugins))
    suite = args.suite.split("/", 1)[-1]
    entries = claims_for(registry, suite)
    if not entries:
        raise UsageError(f"no registered claim is about suite {suite!r}; see 'robarena ls claims'")
    if args.version:
        from pathlib import Path

        from bench.leaderboard.build import load_snapshot

        rows = load_snapshot(Path(args.root), suite, args.version)
    else:
        from bench.runner.results import load_rows

        rows = load_rows(args.workdir, suite)
    outcomes = evaluate_claims(entries, to_frame(rows))
    if args.json:
        print(json.dumps(outcomes_json(outcomes), indent=2))
    else:
        print_claims(outcomes, show_all=args.all)
        print(f"\n{summary(outcomes)} on {len(rows)} rows of suite {suite!r}")
    if args.strict and any(o.result.holds is not True for o in outcomes):
        return 1
    return 0
