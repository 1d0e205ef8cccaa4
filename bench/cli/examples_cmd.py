"""``robarena export-examples SUITE [ROW] --out FILE.jsonl``: per-example outcomes as JSON lines
(one line per row and evaluation example; see :mod:`bench.runner.examples` for the fields)."""
from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-examples", help="per-example outcomes (clean, fooled by which attack, distance, "
                       "margin) of a stored run as JSON lines")
    p.add_argument("suite", help="suite name of a finished run in --workdir")
    p.add_argument("row", nargs="?", default=None, help="only this row (an id or a unique substring; default: all)")
    p.add_argument("--out", required=True, help="output file (.jsonl), or - for standard output")
    p.add_argument("--workdir", default=".robarena", help="results store (default: %(default)s)")
    p.add_argument("--no-margins", dest="margins", action="store_false",
                   help="read the store only: no model, no forward pass (clean_pred and margins are null)")
    p.add_argument("--device", default="cpu", help="device for the margins' forward passes (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="batch of the forward passes (default: %(default)s)")
    p.add_argument("--trust-module", dest="trust_modules", action="append", default=[], metavar="MODULE",
                   help="allow module:factory architectures from MODULE (as for run)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bench.runner.examples import export_examples

    count = export_examples(args.out, args.suite, args.row, workdir=args.workdir, margins=args.margins,
                            device=args.device, batch_size=args.batch_size, plugins=args.plugins,
                            trust_modules=args.trust_modules)
    where = "standard output" if args.out == "-" else args.out
    print(f"wrote {count} example line(s) to {where}", file=sys.stderr)
    return 0


def _mark(robust: object, fooled: object, pred: object = None) -> str:
    if robust is None:
        return "n/a"
    if robust:
        return "ok"
    if not fooled:
        return "-"
    return "fooled" if pred is None else f"fooled ({pred})"


def format_examples(records: list[dict]) -> str:
    """``robarena show SUITE ROW --examples``: one line per example, one column per attack and worst case
    ('ok' robust, 'fooled (p)' fooled into class p, '-' wrong already on the clean input, 'n/a' failed cell),
    then each column's count of robust examples (the row's correct counts)."""
    from tabulate import tabulate

    if not records:
        return "no examples"
    attacks, threats = list(records[0]["attacks"]), list(records[0]["worst_case"])
    headers = ["index", "label", "clean", *attacks, *(f"worst {t}" for t in threats)]
    table, totals = [], [0] * (len(attacks) + len(threats) + 1)
    for rec in records:
        line = [rec["index"], rec["label"], {True: "ok", False: "wrong", None: "n/a"}[rec["clean_correct"]]]
        flags = [rec["clean_correct"]]
        for name in attacks:
            a = rec["attacks"][name]
            line.append(_mark(a["robust"], a["fooled"], a["adv_pred"]))
            flags.append(a["robust"])
        for name in threats:
            robust = rec["worst_case"][name]["robust"]
            line.append(_mark(robust, rec["clean_correct"] and robust is False))
            flags.append(robust)
        totals = [t + bool(f) for t, f in zip(totals, flags)]
        table.append(line)
    n = len(records)
    table.append(["correct", "", *(f"{t}/{n}" for t in totals)])
    return f"row {records[0]['row_id']} ({n} examples)\n" + tabulate(table, headers, tablefmt="simple",
                                                                       disable_numparse=True)
