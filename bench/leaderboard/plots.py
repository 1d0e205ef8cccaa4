"""Leaderboard plots, found by naming conventions so that new probes and tasks get plots
without changes here (the conventions are documented in docs/plugin-guide.md, "Plots").

=================  ===========================================================================
kind               made from
=================  ===========================================================================
``eps-curve``      the rows' typed attack results (:attr:`Row.attacks`): robust accuracy (%) vs
                   eps per attack entry (id, label, norm, targeted, transfer), one series per
                   row, each point with its 95 % interval as an error bar; points are joined
                   only between measured eps (a single eps is a point, never a line), and the
                   row's clean accuracy is an unjoined hollow marker at eps = 0. The worst
                   case (:attr:`Row.worst_case`) gives a curve per (norm, targeted) when it
                   combines more than one attack. Threats without a radius (unbounded) have
                   no eps axis.
``histogram``      probe or task arrays ``<p>hist_counts`` (B,) with edges ``<p>hist_edges``
                   (B + 1,), or the shared ``hist_edges``: one plot per row and probe, every
                   counts array as a step line of fractions (train and test share an axis).
``per-layer``      1-D arrays named ``<name>_per_layer`` or ``layer_<name>`` (L,): value vs
                   layer index 1..L, one line per row.
``curve``          1-D arrays named ``<name>_curve`` (T,) (e.g. a loss per optimisation step):
                   value vs step 0..T-1, one line per row; on a log y axis when every value is
                   positive and they span at least a factor :data:`LOG_RATIO` (a loss falling
                   from 1 to 0.01 is a straight read, not a flat line after the first steps).
``column-family``  probe or task columns ``<metric>@<x>`` (e.g. ``gap@0.5``, ``acc@svhn``):
                   metric vs x, one series per row; a line if every x is a number, else bars.
``epoch-curve``    probes over training (:attr:`MetricResult.epoch`): each probe column vs the
                   training epoch, one line per row (log y axis as for ``curve``).
=================  ===========================================================================

Lines of more than :data:`MAX_MARKERS` points carry no markers (a 1,001-step loss curve is a
line, not a thousand dots); shorter ones mark every measured point.

Each plot is first a :class:`PlotSpec` (plain data: the numbers handed to matplotlib), then
drawn by :func:`render` on a standalone Agg figure (pyplot and the global backend are never
touched) and saved by :func:`to_png` without the ``Software`` metadata entry, so the same
data and matplotlib version give byte-identical PNGs.
"""
from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Union

from bench.rows.schema import Accuracy, Row, Threat

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from matplotlib.figure import Figure

#: figure size in inches at :data:`DPI`: every plot is 640 x 400 pixels
FIGSIZE, DPI = (6.4, 4.0), 100
Arrays = dict[str, "np.ndarray"]
#: row_id -> ("probe" | "task", label) -> array name -> array
ArrayGroups = dict[str, dict[tuple[str, str], Arrays]]
#: a line with more points than this is drawn without markers
MAX_MARKERS = 50
#: a curve whose positive values span at least this factor (max / min) gets a log y axis
LOG_RATIO = 20.0


@dataclass(frozen=True)
class Series:
    """One line (or set of bars) of a plot. For ``stairs``, ``x`` holds the len(y) + 1 bin edges.

    ``low``/``high`` (same length as ``y``) are the ends of each point's interval, drawn as error
    bars; ``anchor`` is an extra point ``(x, y, low, high)`` drawn as a hollow marker that no line
    joins (an eps curve's clean accuracy at eps = 0, which no attack measured).
    """

    label: str
    x: tuple[Union[float, str], ...]
    y: tuple[float, ...]
    row_id: Optional[str] = None
    dashed: bool = False
    color: Optional[str] = None  # a row keeps its color across plots
    low: Optional[tuple[float, ...]] = None
    high: Optional[tuple[float, ...]] = None
    anchor: Optional[tuple[float, float, float, float]] = None


@dataclass(frozen=True)
class PlotSpec:
    """A plot as data. ``key`` identifies it (and names its file); ``rows`` are the rows it shows."""

    kind: str
    key: tuple[str, ...]
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    style: str = "line"  # "line", "stairs" or "bars"
    source: str = ""
    ylim: Optional[tuple[float, float]] = None
    yscale: str = "linear"  # "linear" or "log"

    @property
    def rows(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.row_id for s in self.series if s.row_id is not None))

    @property
    def file(self) -> str:
        """Path inside the snapshot, e.g. ``plots/eps-curve-pgd-Linf-1a2b3c4d.png``."""
        return f"plots/{file_stem(self.kind, *self.key)}.png"


@dataclass(frozen=True)
class ArtifactImage:
    """A task's PNG artifact (e.g. an inversion grid) copied into the snapshot."""

    row_id: str
    name: str  # '<task label>.<artifact name>'
    sha256: str

    @property
    def file(self) -> str:
        return f"artifacts/{file_stem(self.row_id, self.name)}.png"


def file_stem(*parts: str) -> str:
    """A safe, unique file name stem: readable slug of ``parts`` plus 8 hex digits of their hash
    (labels come from user suites and may hold any character)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-.")[:80] or "plot"
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}"


def _number(text: str) -> Optional[float]:
    """The x of a column family ``<metric>@<x>``: '0.5' -> 0.5, '8/255' -> 8/255; None if not a finite number."""
    try:
        value = float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def row_labels(rows: Iterable[Row]) -> dict[str, str]:
    """Short legend labels: 'model/defense', with the dataset and seed only where rows differ in them."""
    rows = list(rows)
    datasets = len({r.dataset for r in rows}) > 1
    seeds = len({r.seed for r in rows}) > 1
    out = {}
    for r in rows:
        parts = ([r.dataset] if datasets else []) + [r.model, r.defense] + ([f"seed{r.seed}"] if seeds else [])
        out[r.row_id] = "/".join(parts)
    return out


def _legend(label: str, row: Row) -> str:
    return label + (" (flagged)" if row.flags else "")


def row_colors(rows: Iterable[Row]) -> dict[str, str]:
    """Matplotlib's default cycle ('C0'...'C9') by row_id order, so a row has one color in every plot."""
    return {row_id: f"C{i % 10}" for i, row_id in enumerate(sorted(r.row_id for r in rows))}


# --------------------------------------------------------------------------- collectors
Collector = Callable[[list[Row], ArrayGroups, list[str]], Iterable[PlotSpec]]
#: kind -> collector(rows, array groups, notes) -> plots; a collector appends to ``notes`` what it skipped
COLLECTORS: dict[str, Collector] = {}


def collector(kind: str) -> Callable[[Collector], Collector]:
    def register(fn: Collector) -> Collector:
        COLLECTORS[kind] = fn
        return fn
    return register


def _threat_name(norm: str, targeted: bool, transfer: bool = False) -> str:
    return norm + (" targeted" if targeted else "") + (" transfer" if transfer else "")


#: (plot key, title subject, threat name, norm, source description) -> row_id -> eps -> accuracy
_Curves = dict[tuple[tuple[str, ...], str, str, str, str], dict[str, dict[float, Accuracy]]]


def _has_eps(threat: Threat) -> bool:
    return threat.eps is not None and math.isfinite(threat.eps)


def _percent(acc: Accuracy) -> tuple[float, float, float]:
    return 100.0 * acc.value, 100.0 * acc.low, 100.0 * acc.high


@collector("eps-curve")
def eps_curves(rows: list[Row], arrays: ArrayGroups, notes: list[str]) -> Iterable[PlotSpec]:
    """Robust accuracy vs eps from the typed results: never from a label."""
    labels, colors = row_labels(rows), row_colors(rows)
    curves: _Curves = {}
    for row in rows:
        for a in row.attacks:
            if a.accuracy is None or a.accuracy.n == 0 or not _has_eps(a.threat):
                continue  # a failed cell, or a threat without a radius
            transfer = a.substitute is not None
            threat = _threat_name(a.threat.norm, a.threat.targeted, transfer)
            pattern = f"{a.threat.norm} <eps>" + (" targeted" if a.threat.targeted else "")
            key = (("robust", a.attack_id, a.label, threat), a.label, threat, a.threat.norm,
                   f"robust[{a.label} {pattern}]" + (" (transfer)" if transfer else ""))
            curves.setdefault(key, {}).setdefault(row.row_id, {})[a.threat.eps] = a.accuracy  # type: ignore[index]
    members: dict[tuple[str, bool], set[str]] = {}
    for row in rows:
        for w in row.worst_case:
            members.setdefault((w.threat.norm, w.threat.targeted), set()).update(w.attacks)
    for row in rows:
        for w in row.worst_case:
            if w.accuracy is None or w.accuracy.n == 0 or not _has_eps(w.threat) \
                    or len(members[(w.threat.norm, w.threat.targeted)]) < 2:
                continue  # the worst case of one attack is that attack's curve
            threat = _threat_name(w.threat.norm, w.threat.targeted)
            pattern = f"{w.threat.norm} <eps>" + (" targeted" if w.threat.targeted else "")
            key = (("ensemble", "worst case", threat), "worst case over the suite's attacks", threat,
                   w.threat.norm, f"ensemble[{pattern}]")
            curves.setdefault(key, {}).setdefault(row.row_id, {})[w.threat.eps] = w.accuracy  # type: ignore[index]
    by_id = {r.row_id: r for r in rows}
    robust_first = sorted(curves.items(), key=lambda item: (item[0][0][0] != "robust", item[0][0]))
    for (key, what, threat, norm, source), per_row in robust_first:
        series = []
        for row_id in sorted(per_row):
            row = by_id[row_id]
            xs = sorted(per_row[row_id])
            points = [_percent(per_row[row_id][x]) for x in xs]
            anchor = None
            if row.clean is not None and row.clean.n > 0:
                anchor = (0.0, *_percent(row.clean))
            series.append(Series(
                _legend(labels[row_id], row), tuple(xs), tuple(p[0] for p in points), row_id,
                dashed=bool(row.flags), color=colors[row_id], low=tuple(p[1] for p in points),
                high=tuple(p[2] for p in points), anchor=anchor))
        yield PlotSpec(
            kind="eps-curve", key=key, title=f"{what}: robust accuracy vs eps ({threat})",
            xlabel=f"eps ({norm})", ylabel="robust accuracy (%)", series=tuple(series), source=source,
            ylim=(0.0, 100.0))


def _vector(value: "np.ndarray") -> Optional["np.ndarray"]:
    import numpy as np

    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        return None
    return arr.astype(np.float64)


def _group_name(group: tuple[str, str]) -> str:
    return f"{group[0]} {group[1]}"


@collector("histogram")
def histograms(rows: list[Row], arrays: ArrayGroups, notes: list[str]) -> Iterable[PlotSpec]:
    import numpy as np

    labels = row_labels(rows)
    for row in rows:
        for group, named in sorted(arrays.get(row.row_id, {}).items()):
            plots: dict[str, list[Series]] = {}
            for name in sorted(named):
                if not name.endswith("hist_counts"):
                    continue
                prefix = name[:-len("hist_counts")]
                edges_name = prefix + "hist_edges" if prefix + "hist_edges" in named else "hist_edges"
                where = f"{_group_name(group)} array {name!r} of row {row.row_id!r}"
                counts, edges = _vector(named[name]), _vector(named[edges_name]) if edges_name in named else None
                if counts is None or edges is None:
                    notes.append(f"{where}: no histogram (needs 1-D counts and 1-D edges {edges_name!r})")
                    continue
                if edges.shape[0] != counts.shape[0] + 1 or not np.all(np.isfinite(edges)) \
                        or np.any(np.diff(edges) < 0) or not np.all(np.isfinite(counts)) or np.any(counts < 0):
                    notes.append(f"{where}: no histogram ({counts.shape[0]} counts need {counts.shape[0] + 1} "
                                 f"finite increasing edges in {edges_name!r} and finite counts >= 0)")
                    continue
                total = counts.sum()
                fractions = counts / total if total > 0 else counts
                label = prefix.rstrip("_") or "counts"
                plots.setdefault(edges_name, []).append(
                    Series(label, tuple(float(e) for e in edges), tuple(float(f) for f in fractions), row.row_id))
            for edges_name, series in sorted(plots.items()):
                stem = edges_name[:-len("hist_edges")].rstrip("_")
                quantity = f"{group[1]} {stem}" if stem else group[1]
                yield PlotSpec(
                    kind="histogram", key=(row.row_id, *group, edges_name),
                    title=f"{quantity} histogram: {_legend(labels[row.row_id], row)}", xlabel=quantity,
                    ylabel="fraction of examples", series=tuple(series), style="stairs",
                    source=f"{_group_name(group)} arrays *hist_counts on {edges_name}")


def _layer_quantity(name: str) -> Optional[str]:
    """'sv_std_per_layer' -> 'sv_std', 'layer_norms' -> 'norms', 'per_layer' -> ''; None if not per layer."""
    if name == "per_layer" or name.endswith("_per_layer"):
        return name[:-len("per_layer")].rstrip("_")
    if name.startswith("layer_") and len(name) > len("layer_"):
        return name[len("layer_"):]
    return None


def _curve_quantity(name: str) -> Optional[str]:
    """'loss_curve' -> 'loss', 'curve' -> ''; None if not a curve."""
    if name == "curve" or name.endswith("_curve"):
        return name[:-len("curve")].rstrip("_")
    return None


def _index_curves(rows: list[Row], arrays: ArrayGroups, notes: list[str], kind: str,
                  quantity_of: Callable[[str], Optional[str]], first: int, xlabel: str, what: str) -> Iterable[PlotSpec]:
    """1-D arrays picked by ``quantity_of(name)``: value vs index (from ``first``), one line per row."""
    labels, colors = row_labels(rows), row_colors(rows)
    found: dict[tuple[tuple[str, str], str], list[Series]] = {}
    for row in rows:
        for group, named in sorted(arrays.get(row.row_id, {}).items()):
            for name in sorted(named):
                if quantity_of(name) is None:
                    continue
                values = _vector(named[name])
                if values is None or values.shape[0] == 0:
                    notes.append(f"{_group_name(group)} array {name!r} of row {row.row_id!r}: no {kind} plot "
                                 "(needs a non-empty 1-D numeric array)")
                    continue
                found.setdefault((group, name), []).append(Series(
                    _legend(labels[row.row_id], row), tuple(float(i) for i in range(first, first + values.shape[0])),
                    tuple(float(v) for v in values), row.row_id, dashed=bool(row.flags), color=colors[row.row_id]))
    for (group, name), series in sorted(found.items()):
        quantity = quantity_of(name) or group[1]
        log = kind == "curve" and log_helps([y for s in series for y in s.y])
        yield PlotSpec(kind=kind, key=(*group, name), title=f"{group[1]}: {quantity} {what}", xlabel=xlabel,
                       ylabel=quantity + (" (log scale)" if log else ""), series=tuple(series),
                       source=f"{_group_name(group)} array {name}", yscale="log" if log else "linear")


def log_helps(values: Iterable[float]) -> bool:
    """True when every finite value is positive and they span at least a factor :data:`LOG_RATIO`."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return False
    return max(finite) / min(finite) >= LOG_RATIO


@collector("per-layer")
def per_layer(rows: list[Row], arrays: ArrayGroups, notes: list[str]) -> Iterable[PlotSpec]:
    return _index_curves(rows, arrays, notes, "per-layer", _layer_quantity, 1, "layer", "per layer")


@collector("curve")
def curves(rows: list[Row], arrays: ArrayGroups, notes: list[str]) -> Iterable[PlotSpec]:
    return _index_curves(rows, arrays, notes, "curve", _curve_quantity, 0, "step", "curve")


def _natural(text: str) -> list[tuple[int, float, str]]:
    return [(0, float(p), "") if p.isdigit() else (1, 0.0, p) for p in re.split(r"(\d+)", text) if p]


@collector("column-family")
def column_families(rows: list[Row], arrays: ArrayGroups, notes: list[str]) -> Iterable[PlotSpec]:
    labels, colors = row_labels(rows), row_colors(rows)
    families: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for row in rows:
        for kind, results in (("probe", row.probe_results), ("task", row.task_results)):
            for m in results:
                if m.epoch is not None:  # probes over training: the epoch-curve plots
                    continue
                family, sep, x = f"{m.label}.{m.column}".rpartition("@")
                value = m.value
                if sep and family and x and value is not None:
                    families.setdefault((kind, family), {}).setdefault(row.row_id, {})[x] = value
    by_id = {r.row_id: r for r in rows}
    for (kind, family), per_row in sorted(families.items()):
        xs = {x for values in per_row.values() for x in values}
        if len(xs) < 2:
            continue
        numeric = all(_number(x) is not None for x in xs)
        order = sorted(xs, key=lambda x: _number(x) if numeric else _natural(x))  # type: ignore[arg-type,return-value]
        series = []
        for row_id in sorted(per_row):
            present = [x for x in order if x in per_row[row_id]]
            series.append(Series(_legend(labels[row_id], by_id[row_id]),
                                 tuple(_number(x) if numeric else x for x in present),  # type: ignore[misc]
                                 tuple(per_row[row_id][x] for x in present), row_id, dashed=bool(by_id[row_id].flags),
                                 color=colors[row_id]))
        yield PlotSpec(kind="column-family", key=(kind, family), title=f"{kind} {family}@<x>", xlabel="x",
                       ylabel=family, series=tuple(series), style="line" if numeric else "bars",
                       source=f"{kind}[{family}@<x>]")


@collector("epoch-curve")
def epoch_curves(rows: list[Row], arrays: ArrayGroups, notes: list[str]) -> Iterable[PlotSpec]:
    """Probes over training: each (probe, column) vs the epoch whose weights it measured, one line per row."""
    labels, colors = row_labels(rows), row_colors(rows)
    found: dict[tuple[str, str, str], dict[str, dict[int, float]]] = {}
    for row in rows:
        for m in row.probe_results:
            if m.epoch is not None and m.value is not None and math.isfinite(m.value):
                found.setdefault((m.source_id, m.label, m.column), {}).setdefault(row.row_id, {})[m.epoch] = m.value
    by_id = {r.row_id: r for r in rows}
    for (source_id, label, column), per_row in sorted(found.items()):
        series = []
        for row_id in sorted(per_row):
            epochs = sorted(per_row[row_id])
            series.append(Series(_legend(labels[row_id], by_id[row_id]), tuple(float(e) for e in epochs),
                                 tuple(per_row[row_id][e] for e in epochs), row_id, dashed=bool(by_id[row_id].flags),
                                 color=colors[row_id]))
        log = log_helps([y for s in series for y in s.y])
        yield PlotSpec(kind="epoch-curve", key=("probe", source_id, label, column),
                       title=f"{label}.{column} over training", xlabel="epoch",
                       ylabel=column + (" (log scale)" if log else ""), series=tuple(series),
                       source=f"probe[{label}.{column}@e<epoch>]", yscale="log" if log else "linear")


def collect(rows: Iterable[Row], arrays: Optional[ArrayGroups] = None) -> tuple[list[PlotSpec], list[str]]:
    """Every plot the conventions find for ``rows`` (and their probe/task arrays), in a stable
    order, and notes on arrays that were skipped because they break a convention."""
    rows = sorted(rows, key=lambda r: r.row_id)
    notes: list[str] = []
    specs = [spec for fn in COLLECTORS.values() for spec in fn(rows, arrays or {}, notes)]
    files = [s.file for s in specs]
    if len(set(files)) != len(files):  # pragma: no cover - file_stem hashes the whole key
        raise RuntimeError("two plots map to one file name")
    return specs, notes


# --------------------------------------------------------------------------- drawing
def render(spec: PlotSpec) -> "Figure":
    """Draw ``spec`` on a new standalone figure (Agg canvas; pyplot is not used)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.92)  # fixed margins: faster than a layout engine
    ax = fig.add_subplot()
    if spec.style == "bars":
        categories = sorted({str(x) for s in spec.series for x in s.x}, key=_natural)  # the collector's order
        width = 0.8 / max(1, len(spec.series))
        for i, s in enumerate(spec.series):
            pos = [categories.index(str(x)) - 0.4 + width * (i + 0.5) for x in s.x]
            ax.bar(pos, s.y, width=width, label=s.label, color=s.color or f"C{i % 10}", hatch="//" if s.dashed else None)
        ax.set_xticks(range(len(categories)), categories)
    else:
        for i, s in enumerate(spec.series):
            style = "--" if s.dashed else "-"
            color = s.color or f"C{i % 10}"
            if spec.style == "stairs":
                ax.stairs(s.y, s.x, label=s.label, color=color, linestyle=style)
                continue
            # one point is a marker alone: a line needs two measured points (never a decay nobody measured)
            linestyle = style if len(s.x) > 1 else "none"
            marker = "o" if len(s.x) <= MAX_MARKERS else None  # long curves: a line, no dot per step
            if s.low is not None and s.high is not None:
                yerr = [[y - lo for y, lo in zip(s.y, s.low)], [hi - y for y, hi in zip(s.y, s.high)]]
                ax.errorbar(s.x, s.y, yerr=yerr, linestyle=linestyle, marker=marker, markersize=3, capsize=3,
                            elinewidth=0.8, label=s.label, color=color)
            else:
                ax.plot(s.x, s.y, linestyle=linestyle, marker=marker, markersize=3, label=s.label, color=color)
            if s.anchor is not None:
                x0, y0, lo0, hi0 = s.anchor
                ax.errorbar([x0], [y0], yerr=[[y0 - lo0], [hi0 - y0]], linestyle="none", marker="s", markersize=4,
                            markerfacecolor="none", capsize=3, elinewidth=0.8, color=color)
    ax.set_title(spec.title, fontsize=10)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    if spec.yscale == "log":  # ticks as plain numbers (0.05): 1, 2, 5 per decade over <= 2 decades; no minor labels
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ys = [y for s in spec.series for y in s.y if math.isfinite(y) and y > 0]
        decades = math.log10(max(ys) / min(ys)) if ys else 0.0
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0) if decades <= 2 else (1.0,)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _log_tick(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    elif spec.yscale != "linear":
        ax.set_yscale(spec.yscale)
    if spec.ylim is not None:
        ax.set_ylim(*spec.ylim)
    ax.grid(True, alpha=0.3)
    if spec.series:  # many rows: more legend columns, smaller type
        ax.legend(fontsize=7 if len(spec.series) <= 10 else 5, loc="best", ncol=1 + (len(spec.series) - 1) // 10)
    return fig


def _log_tick(value: float) -> str:
    """A log axis tick, short: '0.05', '20', '1e-4'."""
    if value <= 0 or 1e-3 <= value < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def to_png(spec: PlotSpec) -> bytes:
    """The plot as PNG bytes, without the ``Software`` entry (byte-stable for a matplotlib version)."""
    buf = io.BytesIO()
    render(spec).savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
