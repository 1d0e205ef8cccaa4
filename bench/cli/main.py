"""``robarena`` entry point. Usage errors print ``ERROR: ...`` and exit non-zero, no traceback
(``--debug`` shows it)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from bench import __version__
from bench.errors import RobarenaError

EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    from bench.cli import claims, eval_cmd, ls, mock_run, plugin_cmd, run, show, store_cmd, validate
    from bench.cli import compare_cmd, examples_cmd, leaderboard_cmd, size_curves_cmd

    parser = argparse.ArgumentParser(prog="robarena", description="Adversarial-robustness benchmark for PyTorch "
                                     "image classifiers: every defense x attack x probe cell, into a versioned leaderboard.")
    parser.add_argument("--version", action="version", version=f"robarena {__version__}")
    parser.add_argument("-p", dest="plugins", action="append", default=[], metavar="NAME",
                        help="load plugin NAME (entry-point name or module) or block it with no:NAME; repeatable")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (ls, run, eval_cmd, validate, mock_run, show, claims, plugin_cmd, store_cmd):
        module.add_parser(sub)
    leaderboard_cmd.add_parser(sub)
    compare_cmd.add_parser(sub)
    examples_cmd.add_parser(sub)
    size_curves_cmd.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from bench.cli.paths import check_directory_options

        check_directory_options(args)  # --workdir / --root naming a file
        return int(args.handler(args) or 0)
    except RobarenaError as exc:
        if args.debug:
            raise
        print(f"ERROR: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `robarena ls | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted: finished cells are stored; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
