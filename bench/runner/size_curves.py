"""Accuracy against perturbation size, from stored per-example minimal distances (P4 Fig. 3).

An attack that reports per-example minimal distances (``extras["distance"]``: classics/fgsm-search,
classics/deepfool, classics/fab, classics/cw-l2, ...) has them stored by the attack stage in its
cell's arrays as ``extra_distance``. From those and the clean cell's ``clean_correct`` this module
draws each row's accuracy at every perturbation size ``eps``, with no model rebuilt and no forward
pass::

    robust(eps) = clean_correct and not (distance <= eps * (1 + REL_TOL))

An example whose distance is exactly ``eps`` is fooled at ``eps`` (the attacks' and the runner's
``distance <= eps`` rule, with the same relative tolerance 1e-6 as classics/fgsm-search, so a
distance stored in float32 that rounds a hair above the threat's eps still counts as within it).
``inf`` (no adversarial example found) is never fooled; ``0`` (the clean input is already
misclassified) is fooled at every eps. The curve is a right-continuous step function of ``eps``;
the default grid is its exact steps: 0, every distinct finite distance of any row, the eps of the
attack's threat cells and the scan limit (below).

Which cell: the attack is named by its suite label (``"FGSM search w"``), every threat of that
label being one cell; the curve uses the cell with the **largest eps**. With
``distances_beyond_eps = true`` every cell of a classics/fgsm-search entry holds the same distance
for each example (the scan always runs to ``max_eps``), and the largest-eps cell is also the one
that covers the most when the scan stops at each threat's eps. A display column
(``"FGSM search w Linf 0.3"``) names one cell directly.

Scan limit: a classics/fgsm-search cell with ``distances_beyond_eps = false`` (its default)
stops at the threat's eps, so its distances above eps read ``inf``: the curve is then valid only
up to that eps, and the grid is cut there (said in ``frame.attrs["note"]``). With
``distances_beyond_eps = true`` the scan stops at ``max_eps`` and the grid is cut at ``max_eps``.
Attacks without that parameter (DeepFool, FAB, C&W) have no limit: ``inf`` means the attack failed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from bench.errors import LeaderboardError, UsageError
from bench.rows.labels import attack_column
from bench.rows.schema import AttackResult, Row
from bench.runner.stored import PathLike, StoredRun

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

#: relative tolerance of the ``distance <= eps`` rule (classics/fgsm-search's own)
REL_TOL = 1e-6
#: the columns of :func:`size_curves`'s frame, in order
COLUMNS = ("row_id", "dataset", "model", "defense", "seed", "eps", "robust", "n", "accuracy", "ci_low", "ci_high")
#: the columns of :func:`aggregate_size_curves`'s frame, in order
AGG_COLUMNS = ("dataset", "model", "defense", "eps", "n_seeds", "mean", "std", "min", "max", "n")
NEEDS_DISTANCES = ("run an attack that reports per-example distances, e.g. classics/fgsm-search with "
                   "distances_beyond_eps = true (or classics/deepfool, classics/fab)")


@dataclass
class RowDistances:
    """One row's stored outcomes for the curve: the cell used, and per example whether the clean
    model was right and the minimal distance (float64; ``inf``: none found)."""

    row: Row
    cell: AttackResult
    clean_correct: "np.ndarray"  # (N,) bool
    distance: "np.ndarray"  # (N,) float64
    limit: Optional[float]  # largest eps the distances are valid up to; None: no limit

    @property
    def n(self) -> int:
        return int(self.distance.shape[0])

    def robust_counts(self, grid: Sequence[float]) -> "np.ndarray":
        """(len(grid),) the number of clean-correct examples whose distance exceeds each eps."""
        import numpy as np

        d = np.sort(self.distance[self.clean_correct])
        fooled = np.searchsorted(d, np.asarray(grid, dtype=np.float64) * (1 + REL_TOL), side="right")
        return d.shape[0] - fooled


@dataclass
class StoredDistances:
    """Everything :func:`size_curves` needs, read once from the store."""

    suite: str
    attack: str
    rows: list[RowDistances]
    notes: list[str]

    @property
    def limit(self) -> Optional[float]:
        """The smallest scan limit of any row (None: no row has one)."""
        limits = [r.limit for r in self.rows if r.limit is not None]
        return min(limits) if limits else None

    @property
    def cell_eps(self) -> list[float]:
        """The finite eps of every threat cell of the attack, over all rows."""
        return sorted({float(a.threat.eps) for r in self.rows for a in _cells(r.row, self.attack)
                       if a.threat.eps is not None and math.isfinite(a.threat.eps)})


def _cells(row: Row, attack: str) -> list[AttackResult]:
    """The row's attack cells labelled ``attack``, else the one whose display column is ``attack``."""
    return [a for a in row.attacks if a.label == attack] or [a for a in row.attacks if attack_column(a) == attack]


def _eps_key(a: AttackResult) -> float:
    return math.inf if a.threat.eps is None else float(a.threat.eps)


def _with_distances(run: StoredRun, rows: list[Row]) -> list[str]:
    """The attack labels whose ok cells (in the first row) store a distance extra, for error messages."""
    from bench.runner.examples import run_cache

    cache = run_cache(run)
    found: list[str] = []
    row = rows[0]
    for rec, a in zip(run.stage_records(row, "attack"), row.attacks):
        if rec["status"] == "ok" and a.label not in found:
            try:
                names = cache.get_tensors(rec["payload"]["arrays"]).keys()
            except Exception:  # noqa: BLE001  (only a hint in an error message)
                continue
            if "extra_distance" in names:
                found.append(a.label)
    return found


def load_distances(suite: Optional[PathLike] = None, workdir: PathLike = ".robarena",
                   attack: Optional[str] = None) -> StoredDistances:
    """Read the clean verdicts and the ``attack`` cell's distances of every trained row of the latest
    finished run of ``suite`` in ``workdir`` (module docstring: which cell, which limit)."""
    import numpy as np

    from bench.runner.examples import run_cache

    run = StoredRun.open(workdir, suite)
    rows = [r for r in run.rows if any(t["status"] == "ok" for t in run.stage_records(r, "train"))]
    if not rows:
        raise LeaderboardError(f"no row of the last run of {run.suite!r} has a trained model")
    labels = list(dict.fromkeys(a.label for r in rows for a in r.attacks))
    if attack is None or not any(_cells(r, str(attack)) for r in rows):
        have = ", ".join(repr(x) for x in _with_distances(run, rows)) or "none"
        what = "name the attack (attack=... / --attack LABEL)" if attack is None else \
            f"no attack labelled {attack!r} in the last run of {run.suite!r}"
        raise UsageError(f"{what}; its attacks: {', '.join(repr(x) for x in labels) or 'none'}; "
                         f"those that store per-example distances: {have}")
    attack = str(attack)
    cache = run_cache(run)
    kinds = {(a.threat.norm, a.threat.targeted, a.substitute) for r in rows for a in _cells(r, attack)}
    if len(kinds) > 1:
        columns = sorted({attack_column(a) for r in rows for a in _cells(r, attack)})
        raise UsageError(f"attack {attack!r} has cells under several norms or threat kinds, whose distances "
                         f"differ; name one cell by its column: {', '.join(columns)}")
    notes: list[str] = []
    out: list[RowDistances] = []
    for row in rows:
        cells = _cells(row, attack)
        if not cells:
            notes.append(f"row {row.row_id} skipped: it has no attack {attack!r}")
            continue
        cell = max(cells, key=_eps_key)
        records = run.stage_records(row, "attack")
        if [r["meta"]["attack"] for r in records] != [a.label for a in row.attacks]:
            raise LeaderboardError(f"row {row.row_id!r}: its attack records and results disagree; re-run the suite")
        rec = records[next(i for i, a in enumerate(row.attacks) if a is cell)]
        clean = run.stage_records(row, "clean")
        if rec["status"] != "ok" or not clean or clean[0]["status"] != "ok":
            which = "clean" if rec["status"] == "ok" else attack_column(cell)
            notes.append(f"row {row.row_id} skipped: its {which} cell failed")
            continue
        arrays = cache.get_tensors(rec["payload"]["arrays"])
        if "extra_distance" not in arrays:
            raise UsageError(f"attack {attack!r} ({cell.attack_id}) stores no per-example distances "
                             f"(no 'distance' extra in its cells); {NEEDS_DISTANCES}")
        distance = arrays["extra_distance"].double().flatten().numpy()
        clean_ok = cache.get_tensors(clean[0]["payload"]["arrays"])["clean_correct"].bool().numpy()
        if distance.shape != clean_ok.shape:
            raise LeaderboardError(f"row {row.row_id!r}: {distance.shape[0]} stored distances of "
                                   f"{attack_column(cell)} for {clean_ok.shape[0]} evaluation examples; re-run")
        missing = int(np.isnan(distance[clean_ok]).sum())
        if missing:
            raise LeaderboardError(f"row {row.row_id!r}: {missing} clean-correct example(s) have no stored distance "
                                   f"(nan) in {attack_column(cell)}; re-run that cell")
        limit: Optional[float] = None
        if "distances_beyond_eps" in cell.params:
            if cell.params["distances_beyond_eps"]:
                top = cell.params.get("max_eps")
                limit = float(top) if top is not None else None
            else:
                limit = _eps_key(cell)
                text = (f"{attack_column(cell)} scanned only up to its threat's eps (distances_beyond_eps = false): "
                        f"the curve is valid up to eps {limit:g} and cut there; set distances_beyond_eps = true "
                        f"for the whole curve")
                if text not in notes:
                    notes.append(text)
        out.append(RowDistances(row, cell, clean_ok, distance, limit))
    if not out:
        raise LeaderboardError(f"no row of the last run of {run.suite!r} has ok clean and {attack!r} cells: "
                               + "; ".join(notes))
    return StoredDistances(run.suite, attack, out, notes)


def _dedupe(values: Iterable[float], anchors: Iterable[float]) -> list[float]:
    """The sorted ``anchors`` and those ``values`` not within :data:`REL_TOL` of an anchor or of a
    smaller kept value (they give the same step)."""
    import bisect

    keep = sorted(set(anchors))
    extra: list[float] = []
    for v in sorted(set(values)):
        if extra and math.isclose(v, extra[-1], rel_tol=REL_TOL, abs_tol=0.0):
            continue
        i = bisect.bisect_left(keep, v)
        if any(math.isclose(v, keep[j], rel_tol=REL_TOL, abs_tol=0.0) for j in (i - 1, i) if 0 <= j < len(keep)):
            continue
        extra.append(v)
    return sorted(keep + extra)


def default_grid(data: StoredDistances) -> list[float]:
    """The curve's exact steps: 0, every distinct finite distance of any row, the eps of the attack's
    threat cells and the scan limit, all up to the limit."""
    import numpy as np

    limit = data.limit
    top = math.inf if limit is None else limit * (1 + REL_TOL)
    dist = np.concatenate([r.distance for r in data.rows])
    dist = dist[np.isfinite(dist) & (dist >= 0) & (dist <= top)]
    anchors = [0.0, *(e for e in data.cell_eps if e <= top)]
    if limit is not None and math.isfinite(limit):
        anchors.append(float(limit))
    return _dedupe(dist.tolist(), anchors)


def _check_grid(eps: Iterable[Any], limit: Optional[float], notes: list[str]) -> list[float]:
    grid: list[float] = []
    for e in eps:
        try:
            value = float(e)
        except (TypeError, ValueError):
            raise UsageError(f"eps must be numbers, got {e!r}") from None
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"eps must be finite and >= 0, got {e!r}")
        grid.append(value)
    grid = sorted(set(grid))
    if not grid:
        raise UsageError("give at least one eps")
    if limit is not None:
        cut = [e for e in grid if e > limit * (1 + REL_TOL)]
        if cut:
            notes.append(f"eps {', '.join(f'{e:g}' for e in cut)} left out: beyond the scan limit {limit:g}, "
                         f"where the stored distances say nothing")
            grid = [e for e in grid if e <= limit * (1 + REL_TOL)]
        if not grid:
            raise UsageError(f"every eps asked for lies beyond the scan limit {limit:g} of the stored distances")
    return grid


def curve_frame(data: StoredDistances, grid: Sequence[float], level: float = 0.95) -> "pd.DataFrame":
    """One line per (row, eps of ``grid``): :data:`COLUMNS`; intervals are ``level`` Clopper-Pearson."""
    import numpy as np
    import pandas as pd

    from bench.stats import proportion_interval

    ends: dict[tuple[int, int], tuple[float, float]] = {}
    parts = []
    eps = np.asarray(grid, dtype=np.float64)
    for r in data.rows:
        counts = r.robust_counts(grid)
        n = r.n
        for k in set(counts.tolist()):
            if (k, n) not in ends:
                ci = proportion_interval(int(k), n, level=level, method="clopper-pearson")
                ends[(k, n)] = (float(ci.low), float(ci.high))
        part = pd.DataFrame({"row_id": r.row.row_id, "dataset": r.row.dataset, "model": r.row.model,
                             "defense": r.row.defense, "seed": r.row.seed, "eps": eps,
                             "robust": counts.astype(np.int64), "n": n})
        part["accuracy"] = part["robust"] / n if n else math.nan
        part["ci_low"] = [ends[(k, n)][0] for k in counts.tolist()]
        part["ci_high"] = [ends[(k, n)][1] for k in counts.tolist()]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)[list(COLUMNS)]
    frame.attrs.update({"suite": data.suite, "attack": data.attack, "level": level, "limit": data.limit,
                        "cells": {r.row.row_id: attack_column(r.cell) for r in data.rows},
                        "cell_eps": data.cell_eps, "note": "; ".join(data.notes)})
    return frame


def size_curves(suite: Optional[PathLike] = None, workdir: PathLike = ".robarena", attack: Optional[str] = None,
                eps: Optional[Iterable[float]] = None, level: float = 0.95) -> "pd.DataFrame":
    """Accuracy against perturbation size of every trained row of the latest finished run of
    ``suite`` in ``workdir``, from the stored per-example distances of ``attack`` (its suite label,
    e.g. ``"FGSM search w"``, or one cell's display column); nothing is rebuilt or re-run.

    One line per (row, eps): ``row_id, dataset, model, defense, seed, eps, robust`` (count of
    examples clean-correct with distance above eps), ``n`` (evaluation examples), ``accuracy``
    (robust / n) and its 95 % Clopper-Pearson interval ``ci_low, ci_high``. ``eps``: the grid
    (default: the exact steps, see :func:`default_grid`); cut at the scan limit when the stored
    distances have one. ``frame.attrs``: ``attack``, ``cells`` (row id -> the column used),
    ``limit``, ``cell_eps`` and ``note`` (cut grids, skipped rows). See the module docstring.
    """
    data = load_distances(suite, workdir, attack)
    grid = default_grid(data) if eps is None else _check_grid(eps, data.limit, data.notes)
    frame = curve_frame(data, grid, level)
    frame.attrs["exact_steps"] = eps is None
    return frame


def aggregate_size_curves(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Per (dataset, model, defense, eps): ``n_seeds``, ``mean`` and sample ``std`` (ddof = 1; nan
    for one seed), ``min`` and ``max`` of the per-seed accuracies (fractions), and ``n`` (examples
    per seed, summed when seeds differ)."""
    import pandas as pd

    missing = [c for c in ("dataset", "model", "defense", "eps", "seed", "accuracy", "n") if c not in frame.columns]
    if missing:
        raise UsageError(f"not a size_curves frame: no column(s) {', '.join(missing)}")
    keys = ["dataset", "model", "defense", "eps"]
    out = frame.groupby(keys, sort=False, dropna=False).agg(
        n_seeds=("seed", "nunique"), mean=("accuracy", "mean"), std=("accuracy", lambda s: s.std(ddof=1)),
        min=("accuracy", "min"), max=("accuracy", "max"), n=("n", "sum")).reset_index()
    out = out.sort_values(keys, kind="stable", ignore_index=True)
    out = pd.DataFrame(out[list(AGG_COLUMNS)])
    out.attrs.update(frame.attrs)
    return out


def plot_size_curves(frame: "pd.DataFrame", path: PathLike, band: str = "minmax",
                     title: Optional[str] = None) -> Path:
    """Draw the curves to a PNG at ``path`` and return it: accuracy (%) against perturbation size,
    one line per (dataset, model, defense) -- the mean over seeds -- with a shaded band over seeds
    (``band="minmax"``: min to max, ``"std"``: mean +- std, ``"none"``). Takes :func:`size_curves`'s
    frame or :func:`aggregate_size_curves`'s. Exact step grids are drawn as steps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bench.leaderboard.plots import DPI, FIGSIZE

    if band not in ("minmax", "std", "none"):
        raise UsageError(f"band must be 'minmax', 'std' or 'none', got {band!r}")
    agg = frame if "mean" in frame.columns else aggregate_size_curves(frame)
    if agg.empty:
        raise UsageError("no curve to plot: the frame is empty")
    steps = bool(frame.attrs.get("exact_steps", False))
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    groups = list(agg.groupby(["dataset", "model", "defense"], sort=False))
    datasets = {k[0] for k, _ in groups}
    models = {k[1] for k, _ in groups}
    for (dataset, model, defense), g in groups:
        g = g.sort_values("eps")
        parts = ([dataset] if len(datasets) > 1 else []) + ([model] if len(models) > 1 else []) + [defense]
        x, y = g["eps"].to_numpy(), 100 * g["mean"].to_numpy()
        style = {"drawstyle": "steps-post"} if steps else {"marker": "o" if len(x) <= 50 else None}
        (line,) = ax.plot(x, y, label=" / ".join(str(p) for p in parts), **style)
        if band != "none" and int(g["n_seeds"].max()) > 1:
            if band == "minmax":
                lo, hi = 100 * g["min"].to_numpy(), 100 * g["max"].to_numpy()
            else:
                sd = 100 * g["std"].fillna(0.0).to_numpy()
                lo, hi = y - sd, y + sd
            ax.fill_between(x, lo, hi, alpha=0.2, color=line.get_color(), linewidth=0,
                            step="post" if steps else None)
    attack = frame.attrs.get("attack")
    ax.set_xlabel("perturbation size (eps)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title if title is not None else
                 f"{frame.attrs.get('suite', '')}: accuracy vs perturbation size"
                 + (f" ({attack})" if attack else ""), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    try:
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return path
