"""``robarena size-curves SUITE --attack LABEL``: accuracy against perturbation size from the stored
per-example minimal distances of an attack (P4 Fig. 3); see :mod:`bench.runner.size_curves`."""
from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Optional

#: points of the printed table when no --eps is given (the CSV and the plot keep every step)
TABLE_POINTS = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("size-curves", help="accuracy against perturbation size from an attack's stored "
                       "per-example distances (e.g. classics/fgsm-search), no model rebuilt")
    p.add_argument("suite", help="suite name of a finished run in --workdir")
    p.add_argument("--attack", required=True, metavar="LABEL",
                   help="the attack's suite label (e.g. 'FGSM search w') or one cell's column")
    p.add_argument("--workdir", default=".robarena", help="results store (default: %(default)s)")
    p.add_argument("--eps", default=None, metavar="E1,E2,...",
                   help="comma-separated grid (default: every step of the curve; the table shows "
                        f"{TABLE_POINTS + 1} evenly spaced points and the attack's eps)")
    p.add_argument("--csv", default=None, metavar="OUT.csv", help="write the per-seed curves as CSV")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="draw the curves (mean over seeds, min-max band)")
    p.add_argument("--seeds", action="store_true", help="print one line per seed instead of the mean over seeds")
    p.set_defaults(handler=handle)


def parse_eps(text: Optional[str]) -> Optional[list[float]]:
    from bench.errors import UsageError

    if text is None:
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "/" in part:
                num, den = part.split("/", 1)
                out.append(float(num) / float(den))
            else:
                out.append(float(part))
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"--eps: {part!r} is not a number (give e.g. 0,0.05,0.1 or 8/255)") from None
    if not out:
        raise UsageError("--eps: give at least one number")
    return out


def _table_grid(data: Any) -> list[float]:
    """0, the attack's eps and evenly spaced points up to the scan limit (else the largest finite distance)."""
    import numpy as np

    from bench.runner.size_curves import REL_TOL

    top = data.limit
    if top is None or not math.isfinite(top):
        finite = np.concatenate([r.distance[np.isfinite(r.distance)] for r in data.rows])
        top = float(finite.max()) if finite.size else 0.0
    points = {round(float(e), 12) for e in np.linspace(0.0, top, TABLE_POINTS + 1)} if top > 0 else {0.0}
    points |= {e for e in data.cell_eps if e <= top * (1 + REL_TOL)}
    return sorted(points)


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def format_table(frame: Any, seeds: bool) -> str:
    """One line per curve (a row with --seeds, else model/defense with mean ± std over seeds), one
    column per eps; accuracies in %."""
    from tabulate import tabulate

    from bench.runner.size_curves import aggregate_size_curves

    eps = sorted(frame["eps"].unique())
    heads = [f"{e:.4g}" for e in eps]
    datasets = frame["dataset"].nunique() > 1
    lines = []
    if seeds:
        for row_id, g in frame.groupby("row_id", sort=True):
            by = dict(zip(g["eps"], g["accuracy"]))
            lines.append([row_id, int(g["n"].iloc[0]), *(_pct(by[e]) for e in eps)])
        return tabulate(lines, ["row", "n", *heads], tablefmt="simple", disable_numparse=True)
    agg = aggregate_size_curves(frame)
    for (dataset, model, defense), g in agg.groupby(["dataset", "model", "defense"], sort=False):
        by = {e: (m, s) for e, m, s in zip(g["eps"], g["mean"], g["std"])}
        cells = [_pct(m) if math.isnan(s) else f"{_pct(m)}±{100 * s:.1f}" for m, s in (by[e] for e in eps)]
        name = f"{dataset}/{model}/{defense}" if datasets else f"{model}/{defense}"
        lines.append([name, int(g["n_seeds"].iloc[0]), *cells])
    return tabulate(lines, ["model/defense", "seeds", *heads], tablefmt="simple", disable_numparse=True)


def handle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.errors import UsageError
    from bench.runner.size_curves import _check_grid, curve_frame, default_grid, load_distances, plot_size_curves

    eps = parse_eps(args.eps)
    for option, target in (("--csv", args.csv), ("--plot", args.plot)):
        if target is not None and Path(target).is_dir():
            raise UsageError(f"{option} {target} is a directory; give a file name")
    data = load_distances(args.suite, args.workdir, args.attack)
    if eps is None:
        full = curve_frame(data, default_grid(data))
        full.attrs["exact_steps"] = True
        shown = curve_frame(data, _table_grid(data))
    else:
        full = shown = curve_frame(data, _check_grid(eps, data.limit, data.notes))
        full.attrs["exact_steps"] = False
    cells = sorted(set(full.attrs["cells"].values()))
    print(f"{data.suite}: accuracy (%) against perturbation size, from the distances of {', '.join(cells)} "
          f"({int(full['n'].iloc[0])} examples per row"
          + (f", valid up to eps {data.limit:g}" if data.limit is not None else "") + ")")
    print(format_table(shown, args.seeds))
    if full.attrs.get("note"):
        print(f"note: {full.attrs['note']}")
    if args.csv is not None:
        try:
            full.to_csv(args.csv, index=False)
        except OSError as exc:
            raise UsageError(f"cannot write {args.csv}: {exc.strerror}") from None
        print(f"wrote {len(full)} line(s) to {args.csv}", file=sys.stderr)
    if args.plot is not None:
        plot_size_curves(full, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
