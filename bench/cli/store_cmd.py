"""``robarena store``: verify a work directory (``check [--repair]``) and list its runs (``runs``).

``store check`` exits 0 when every record, artifact and run verifies and 1 when it found
problems (with ``--repair`` as well: the broken records were then deleted, and a run of the
named suites recomputes them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("store", help="verify a work directory's results and list its runs",
                            description="Check the results store and artifact cache of a work directory.")
    cmds = parser.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    p = cmds.add_parser("check", help="verify every record's checksum, every artifact and every run; exit 1 on "
                        "problems")
    p.add_argument("--workdir", default=".robarena", help="work directory (default: %(default)s)")
    p.add_argument("--repair", action="store_true",
                   help="delete broken records (and corrupted artifacts) so that the next run recomputes them")
    p.set_defaults(handler=_check)
    p = cmds.add_parser("runs", help="list the runs of a work directory with their status")
    p.add_argument("--workdir", default=".robarena", help="work directory (default: %(default)s)")
    p.add_argument("--suite", default=None, help="only this suite's runs")
    p.set_defaults(handler=_runs)


def _check(args: argparse.Namespace) -> int:
    from bench.store.check import check_workdir, format_report

    report = check_workdir(Path(args.workdir), repair=args.repair)
    print(format_report(report))
    return 0 if report.ok else 1


def _runs(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.store.results import ResultsStore

    path = Path(args.workdir) / "results.sqlite"
    if not path.exists():
        raise UsageError(f"no results in {args.workdir}: run a suite with --workdir {args.workdir} first")
    store = ResultsStore(path)
    try:
        runs = store.list_runs(args.suite)
    finally:
        store.close()
    if not runs:
        print(f"no runs{f' of suite {args.suite!r}' if args.suite else ''} in {args.workdir}")
        return 0
    table = [[r["run_id"], r["suite"], r["suite_version"], r["started"], r["finished"] or "-", r["status"],
              "?" if r["cell_keys"] is None else len(r["cell_keys"])] for r in runs]
    print(tabulate(table, headers=["run", "suite", "version", "started", "finished", "status", "cells"],
                   disable_numparse=True))
    return 0
