"""``robarena compare SUITE A B``: is row A better than row B, or is the difference within noise?"""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired test of two rows (exact McNemar) or two configurations over seeds")
    p.add_argument("suite", help="suite name of a finished run in --workdir")
    p.add_argument("a", help="row id ('<dataset>/<model>/<defense>/seed<N>'), or with --seeds a configuration "
                             "('<dataset>/<model>/<defense>')")
    p.add_argument("b", help="the row or configuration to compare A with")
    p.add_argument("--seeds", action="store_true",
                   help="compare two configurations seed by seed (paired t-test on per-seed values)")
    p.add_argument("--workdir", default=".robarena", help="results store (default ./.robarena)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bench.runner.compare import compare_rows, compare_seeds, format_comparisons

    compare = compare_seeds if args.seeds else compare_rows
    print(format_comparisons(compare(args.workdir, args.suite, args.a, args.b), args.a, args.b))
    return 0
