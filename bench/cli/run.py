"""``robarena run SUITE``: run a plugin-shipped suite by name or a suite file."""
from __future__ import annotations

import argparse
import sys
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite (a name such as 'quick', or a path to suite.toml)")
    p.add_argument("suite", help="suite name (see 'robarena ls suites') or path to a TOML suite file")
    add_run_options(p)
    p.set_defaults(handler=handle)


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default=".robarena", help="results store and cache (default ./.robarena)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def report(result, elapsed: float) -> int:
    from bench.leaderboard.render import to_markdown

    for what, why in result.dropped:
        print(f"dropped {what}: {why}")
    print(to_markdown(result.rows))
    print(f"\n{len(result.rows)} row(s); {result.computed} cell(s) computed, {result.cached} from cache, "
          f"{len(result.failures)} failed; {elapsed:.1f}s; results in {result.workdir}")
    if result.failures:
        print(f"\n{len(result.failures)} failed cell(s):", file=sys.stderr)
        for f in result.failures:
            print(f"  [{f.stage}] {f.cell_id}: {f.error}", file=sys.stderr)
        return 1
    return 0


def handle(args: argparse.Namespace) -> int:
    from bench.runner.api import run

    start = time.perf_counter()
    result = run(args.suite, workdir=args.workdir, device=args.device, plugins=args.plugins,
                 progress=not args.no_progress, debug=args.debug)
    return report(result, time.perf_counter() - start)
