"""Terminal tables that fit the width (``robarena run``, ``eval``, ``show``, ``claims``), drawn with rich.

Rows are shown compact by default: model, defense, dataset, the clean accuracy, the worst case
per threat model (per example over the suite's attacks) with its 95 % interval, and flags. Other
metric columns (each attack, probes, tasks, the integrity probe) come with ``--columns PATTERN``
(a glob or a regular expression, case-insensitive, on display column names such as
``robust[pgd Linf 0.1]`` or ``probe[margin.mean]``; repeatable) or ``--all``. When a configuration
has several seeds the rows are seed aggregates (mean ± std over seeds, :mod:`bench.rows.aggregate`)
unless ``--seeds`` asks for one row per seed. Metric columns that do not fit the width go to a
further table below, with the label columns repeated. The width is the terminal's; when the
output is not a terminal, ``$COLUMNS`` or :data:`DEFAULT_WIDTH`. The exports of
:mod:`bench.leaderboard.render` (markdown, CSV, LaTeX) keep every column.
"""
from __future__ import annotations

import argparse
import fnmatch
import io
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, TextIO

from bench.errors import UsageError

if TYPE_CHECKING:  # rich is imported when a table is drawn, not when the CLI parses its arguments
    from rich.console import Console, RenderableType
    from rich.table import Table

DEFAULT_WIDTH = 100  # columns when the output is not a terminal and $COLUMNS is not set
GAP = 2  # spaces between two columns: a right padding of 1 and the (blank) column separator
WRAP_MIN = 12  # the least room a wrapping column (flags) takes before it goes to a further table


@dataclass(frozen=True)
class TableOptions:
    """Which columns and rows a row table shows (``--columns``, ``--all``, ``--seeds``) and its width."""

    columns: tuple[str, ...] = ()
    show_all: bool = False
    seeds: bool = False
    width: Optional[int] = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TableOptions":
        return cls(tuple(getattr(args, "columns", None) or ()), bool(getattr(args, "all", False)),
                   bool(getattr(args, "seeds", False)))


def add_table_options(p: argparse.ArgumentParser) -> None:
    """``--columns PATTERN``, ``--all`` and ``--seeds`` for a command that prints rows."""
    p.add_argument("--columns", action="append", default=[], metavar="PATTERN",
                   help="also show the metric columns whose name matches PATTERN, a glob or a regular expression "
                        "(e.g. 'robust*', 'probe[margin.*', 'integrity'); repeatable")
    p.add_argument("--all", action="store_true", help="show every metric column (tables that do not fit the width "
                   "continue below)")
    p.add_argument("--seeds", action="store_true", help="one row per seed instead of the seed aggregates "
                   "(mean ± std over seeds) of a suite with several seeds")


# --------------------------------------------------------------------------- console

def terminal_width(stream: Optional[TextIO] = None) -> int:
    """Columns of the terminal ``stream`` (default stdout) writes to; not a terminal: $COLUMNS, else 100."""
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or not a file
        tty = False
    if tty:
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else DEFAULT_WIDTH


def console(stream: Optional[TextIO] = None, width: Optional[int] = None) -> Console:
    """A rich console on ``stream`` (default stdout) of ``width`` columns (default :func:`terminal_width`);
    plain text (no colour, no escapes) when the stream is not a terminal."""
    from rich.console import Console

    stream = sys.stdout if stream is None else stream
    return Console(file=stream, width=width or terminal_width(stream), markup=False, emoji=False,
                   highlight=False, soft_wrap=False)


def render_text(renderables: Sequence[RenderableType], width: int) -> str:
    """What :func:`print_all` prints, as text of at most ``width`` columns (no terminal escapes)."""
    buffer = io.StringIO()
    print_all(renderables, console(buffer, width))
    return buffer.getvalue()


def print_all(renderables: Sequence[RenderableType], out: Console) -> None:
    from rich.table import Table

    for i, item in enumerate(renderables):
        if i and isinstance(item, Table):
            out.print()
        out.print(item)


# --------------------------------------------------------------------------- columns

def matches(name: str, pattern: str) -> bool:
    """Whether display column ``name`` matches ``pattern``: a glob (``*``, ``?``; brackets are literal, as
    in the names: ``probe[margin.*]``), or a regular expression found in it; both case-insensitive."""
    if fnmatch.fnmatchcase(name.lower(), pattern.lower().replace("[", "[[]")):
        return True
    try:
        return re.search(pattern, name, flags=re.IGNORECASE) is not None
    except re.error:
        return False


def choose_columns(available: Sequence[str], default: Iterable[str], patterns: Sequence[str],
                   show_all: bool) -> list[str]:
    """The metric columns to show, in ``available`` order: ``default`` plus those matching a pattern
    (every column with ``show_all``); a pattern that matches nothing is a :class:`UsageError`."""
    if show_all:
        return list(available)
    chosen = set(default)
    for pattern in patterns:
        hits = [name for name in available if matches(name, pattern)]
        if not hits:
            raise UsageError(f"--columns {pattern!r} matches no column; the columns are: {', '.join(available)}")
        chosen.update(hits)
    return [name for name in available if name in chosen]


def default_columns(available: Sequence[str]) -> list[str]:
    """The compact view: the clean accuracy, the worst case per threat model and the corruption headline
    (mean corruption accuracy, mCE, relative mCE)."""
    from bench.rows.frame import CORRUPTION_RATIOS, metric_group

    headline = ("corruption[mean]", *CORRUPTION_RATIOS)
    return [name for name in available if metric_group(name) in ("clean", "ensemble", "published", "certified")
            or name in headline]


def describe_columns(rows: Iterable[Any]) -> dict[str, tuple[str, str]]:
    """Display column -> (two-line header: what, then threat or column; the glob of its family, e.g.
    ``probe[margin.*]``), from the typed results."""
    from bench.rows.labels import (attack_column, certified_column, corruption_column, metric_name, published_column,
                                   threat_label)

    out = {"clean": ("clean", "clean")}
    for row in rows:
        for a in row.attacks:
            out.setdefault(f"robust[{attack_column(a)}]", (f"{a.label}\n{threat_label(a.threat)}", "robust[*]"))
        for w in row.worst_case:
            label = threat_label(w.threat)
            out.setdefault(f"ensemble[{label}]", (f"worst\n{label}", "ensemble[*]"))
        for c in row.certified:
            smoothed = " (smoothed)" if c.classifier == "smoothed" else ""
            out.setdefault(f"certified[{certified_column(c)}]",
                           (f"{c.label}{smoothed} [cert, emp]\n{threat_label(c.threat)}", "certified[*]"))
        if row.corruption_summary is not None:
            for name, header in (("mean", "corruption\nmean"), ("mCE", "corruption\nmCE"),
                                 ("relative mCE", "corruption\nrel. mCE")):
                out.setdefault(f"corruption[{name}]", (header, "corruption[*]"))
        for r in row.corruptions:
            out.setdefault(f"corruption[{corruption_column(r)}]", (f"{r.label}\ns{r.severity}", "corruption[*]"))
        for group, results in (("probe", row.probe_results), ("task", row.task_results)):
            for m in results:
                at = f" @e{m.epoch}" if m.epoch is not None else ""
                out.setdefault(f"{group}[{metric_name(m)}]", (f"{m.label}\n{m.column}{at}", f"{group}[{m.label}.*]"))
        for p in row.published:
            what = "clean" if p.threat is None else threat_label(p.threat)
            out.setdefault(published_column(p), (f"published\n{what}", "published[*]"))
    return out


def hidden_note(hidden: Sequence[str], families: dict[str, str]) -> str:
    """``'more columns: robust[*] (2), probe[margin.*] (3); ...'``: the hidden columns by family."""
    counts: dict[str, int] = {}
    for name in hidden:
        family = families.get(name, name)
        counts[family] = counts.get(family, 0) + 1
    listed = ", ".join(f"{family} ({n})" for family, n in counts.items())
    return f"more columns: {listed}; add them with --columns PATTERN (glob or regex) or --all"


# --------------------------------------------------------------------------- packing

@dataclass(frozen=True)
class _Column:
    header: str
    cells: list[str]
    numeric: bool = False  # right-aligned, never wrapped
    wraps: bool = False  # may wrap (flags): takes the room left, down to WRAP_MIN
    max_width: Optional[int] = None

    @property
    def width(self) -> int:
        from rich.cells import cell_len

        return max([cell_len(line) for line in self.header.split("\n")] + [cell_len(c) for c in self.cells])


def _bare_table() -> Table:
    """Header rule, no borders, columns :data:`GAP` apart."""
    from rich import box
    from rich.table import Table

    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")


def _table(columns: Sequence[_Column]) -> Table:
    from rich.text import Text

    table = _bare_table()
    for col in columns:
        table.add_column(Text(col.header), justify="right" if col.numeric else "left", no_wrap=col.numeric,
                         overflow="fold", max_width=col.max_width)
    for i in range(len(columns[0].cells)):
        table.add_row(*[Text(col.cells[i]) for col in columns])
    return table


def pack(labels: Sequence[_Column], metrics: Sequence[_Column], width: int) -> list[Table]:
    """Tables of ``labels`` plus as many of ``metrics`` (in order) as fit ``width``; the rest in further
    tables. A column that wraps takes the room left in its table (at least :data:`WRAP_MIN`)."""
    fixed = sum(c.width for c in labels) + GAP * (len(labels) - 1)
    blocks: list[list[_Column]] = [[]]
    used = fixed
    for col in metrics:
        need = min(col.width, WRAP_MIN) if col.wraps else col.width
        if blocks[-1] and used + GAP + need > width:
            blocks.append([])
            used = fixed
        if col.wraps:
            col = replace(col, max_width=max(need, min(col.width, width - used - GAP)))
        blocks[-1].append(col)
        used += GAP + (col.max_width or col.width)
    return [_table([*labels, *block]) for block in blocks]


# --------------------------------------------------------------------------- rows

def _format_summary(summary: Any, accuracy: bool, n_seeds: int) -> str:
    scale, spec = (100.0, ".1f") if accuracy else (1.0, ".4g")
    text = format(summary.mean * scale, spec)
    if not math.isnan(summary.std):
        text += " ± " + format(summary.std * scale, ".1f" if accuracy else ".2g")
    return text if summary.n_seeds == n_seeds else f"{text} ({summary.n_seeds}/{n_seeds})"


def _row_lines(rows: list[Any], chosen: list[str], show_seed: bool) -> tuple[list[list[str]], list[list[str]], list[str]]:
    from bench.leaderboard.render import (FLAG_MARK, MISSING, format_accuracy, format_certified, format_published,
                                          format_value)
    from bench.rows.frame import is_accuracy, is_certified, is_published

    labels, metrics, flags = [], [], []
    for row in rows:
        accuracies, values = {**row.accuracies(), **row.mean_accuracies()}, row.metric_columns()
        labels.append([f"{row.model} {FLAG_MARK}" if row.flags else row.model, row.defense, row.dataset]
                      + ([str(row.seed)] if show_seed else []))
        metrics.append([format_certified(row, c, MISSING) if is_certified(c)
                        else format_accuracy(accuracies.get(c), MISSING) if is_accuracy(c)
                        else format_published(row, c, MISSING) if is_published(c)
                        else format_value(c, values.get(c), MISSING) for c in chosen])
        flags.append(", ".join(row.flags))
    return labels, metrics, flags


def _aggregate_lines(aggregates: list[Any], chosen: list[str]) -> tuple[list[list[str]], list[list[str]], list[str]]:
    from bench.leaderboard.render import FLAG_MARK, MISSING
    from bench.rows.frame import is_percentage

    labels, metrics, flags = [], [], []
    for agg in aggregates:
        labels.append([f"{agg.model} {FLAG_MARK}" if agg.flags else agg.model, agg.defense, agg.dataset,
                       str(agg.n_seeds)])
        metrics.append([_format_summary(agg.metrics[c], is_percentage(c), agg.n_seeds) if c in agg.metrics
                        else MISSING for c in chosen])
        flags.append(", ".join(f"{flag} ({count}/{agg.n_seeds})" for flag, count in sorted(agg.flags.items())))
    return labels, metrics, flags


def rows_view(rows: Iterable[Any], options: TableOptions = TableOptions()) -> list[RenderableType]:
    """The row table(s) for the terminal and the notes under them (see the module docstring)."""
    from rich.text import Text

    from bench.rows.aggregate import aggregate_rows
    from bench.rows.frame import is_empirical, metric_column_names

    rows = list(rows)
    if not rows:
        return [Text("no rows")]
    width = options.width or terminal_width()
    available = [c for c in metric_column_names(rows) if not is_empirical(c)]  # shown inside certified[...]
    chosen = choose_columns(available, default_columns(available), options.columns, options.show_all)
    described = describe_columns(rows)
    aggregates = aggregate_rows(rows)
    several = any(a.n_seeds > 1 for a in aggregates)
    if several and not options.seeds:
        label_names = ["model", "defense", "dataset", "seeds"]
        labels, metrics, flags = _aggregate_lines(aggregates, chosen)
        legend = ("mean ± sample std over the seeds of each configuration, accuracies in %; (k/n): only k of "
                  "its n seeds have the metric; one row per seed: --seeds")
    else:
        label_names = ["model", "defense", "dataset"] + (["seed"] if several else [])
        labels, metrics, flags = _row_lines(rows, chosen, several)
        legend = "accuracy in % ± half-width of its 95 % Clopper-Pearson interval (the larger side)"
    if any(c.startswith("ensemble[") for c in chosen):
        legend += "; worst: per example over the attacks at that threat model"
    if any(c.startswith("certified[") for c in chosen):
        legend += ("; certified: [certified, empirical] robust accuracy of the same classifier at that threat, "
                   "a provable lower and an attack's upper bound (✗: certified above empirical, a bug in one)")
    if "corruption[mean]" in chosen:
        legend += "; corruption mean: accuracy over every corruption and severity"
    if "corruption[mCE]" in chosen:
        legend += "; mCE: corruption error relative to the suite's baseline row (1 = as the baseline, lower is better)"
    label_cols = [_Column(name, [line[i] for line in labels]) for i, name in enumerate(label_names)]
    metric_cols = [_Column(described[c][0] if c in described else c, [line[i] for line in metrics], numeric=True)
                   for i, c in enumerate(chosen)]
    if any(flags):
        metric_cols.append(_Column("flags", flags, wraps=True))
        legend += "; ⚠: an attack-failure indicator fired (flags): robust numbers may be overestimates"
    out: list[RenderableType] = list(pack(label_cols, metric_cols, width))
    out.append(Text(legend, style="dim"))
    if any(c.startswith("published[") for c in chosen):  # where each published value comes from
        from bench.leaderboard.render import published_notes

        out.append(Text("\n".join(published_notes(rows)), style="dim"))
    hidden = [c for c in available if c not in chosen]
    if hidden:
        out.append(Text(hidden_note(hidden, {c: d[1] for c, d in described.items()}), style="dim"))
    return out


def print_rows(rows: Iterable[Any], options: TableOptions = TableOptions(), stream: Optional[TextIO] = None) -> None:
    """Print the row table(s) to ``stream`` (default stdout), fitted to its width."""
    out = console(stream, options.width)
    print_all(rows_view(rows, TableOptions(options.columns, options.show_all, options.seeds, out.width)), out)


# --------------------------------------------------------------------------- claims

def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[:1])


def _claim_fields(o: Any) -> list[tuple[str, str]]:
    """(name, text) of everything a claim's outcome states: its verdict, test, level, statistic,
    p-values, interval, numbers and detail (empty fields left out)."""
    from bench.claims import format_numbers, format_p

    r = o.result
    fields = [("claim", o.claim), ("verdict", o.status), ("statement", o.statement), ("test", r.test)]
    if not math.isnan(r.level):
        fields.append(("level", f"{r.level:g}"))
    if not math.isnan(r.statistic):
        fields.append(("statistic", f"{r.statistic:.4g}"))
    if not math.isnan(r.p_value) or not math.isnan(r.p_reverse):
        fields.append(("p-value", f"{format_p(r.p_value)} (for the claim), {format_p(r.p_reverse)} (against it)"))
    if r.interval is not None:
        fields.append(("interval", f"[{r.interval[0]:.4g}, {r.interval[1]:.4g}]"))
    fields += [("numbers", format_numbers(r.numbers)), ("detail", r.detail)]
    return [(name, text) for name, text in fields if text]


def claims_view(outcomes: Sequence[Any], show_all: bool = False, width: Optional[int] = None) -> list[RenderableType]:
    """Claim verdicts: claim, verdict and one line of evidence (the p-value and level, then the
    detail's first line, else the numbers), cut to the width; ``show_all``: one block per claim with
    its statement, test, level, statistic, p-values, interval, every number and the full detail, wrapped."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from bench.claims import evidence as p_evidence
    from bench.claims import format_numbers

    width = width or terminal_width()
    if show_all:
        out: list[RenderableType] = []
        for i, o in enumerate(outcomes):
            grid = Table.grid(padding=(0, GAP, 0, 0))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for name, text in _claim_fields(o):
                grid.add_row(Text(name), Text(text))
            if i:
                out.append(Text(""))
            out.append(grid)
        return out
    table = _bare_table()
    table.add_column("claim", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("evidence", no_wrap=True, overflow="ellipsis")
    claim_w = max([cell_len("claim")] + [cell_len(o.claim) for o in outcomes])
    verdict_w = max([cell_len("verdict")] + [cell_len(o.status) for o in outcomes])
    room = max(12, width - claim_w - verdict_w - 2 * GAP)
    for o in outcomes:
        line = _first_line(o.result.detail) or format_numbers(o.result.numbers)
        p = p_evidence(o.result)
        evidence = Text(f"{p}; {line}" if p and line else p or line)
        evidence.truncate(room, overflow="ellipsis")
        table.add_row(Text(o.claim), Text(o.status), evidence)
    return [table, Text("the statement, test, level, p-values, every number and the full detail: --all", style="dim")]


def print_claims(outcomes: Sequence[Any], show_all: bool = False, stream: Optional[TextIO] = None) -> None:
    out = console(stream)
    print_all(claims_view(outcomes, show_all, out.width), out)


# --------------------------------------------------------------------------- key / value

def key_value_text(pairs: Sequence[tuple[str, str]], width: int) -> str:
    """Two columns (name, value), values wrapped to ``width``, as text (``robarena show --format text``)."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, GAP, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(Text(name), Text(value))
    return "\n".join(line.rstrip() for line in render_text([grid], width).splitlines())
