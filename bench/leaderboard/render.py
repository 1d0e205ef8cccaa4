"""Render rows: markdown (README and the terminal), CSV, JSON lines and LaTeX.

Every accuracy (clean, robust, worst case) is shown as a percentage with its 95 % Clopper–Pearson
interval, ``48.8 ± 4.5``: the value and the larger distance from it to an end of the interval
(exact intervals are asymmetric, so ``±`` is a conservative summary; the CSV and JSON lines hold
both ends and the count), with as many decimals as resolve one example (one up to n = 1000, two
up to n = 10,000). Probe and task values are shown with four significant digits. A flagged
row's model is marked with ``⚠`` (``*`` in LaTeX) and its flags are listed in a ``flags`` column.
A certified accuracy is shown with its empirical partner as ``[certified, empirical]`` (``✗``: the
certified one is above, a flagged contradiction); the CSV holds both as separate columns.
Labels come from :mod:`bench.rows.labels` (the rendering edge).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional

from tabulate import tabulate

from bench.errors import LeaderboardError
from bench.rows.frame import (is_accuracy, is_certified, is_empirical, is_percentage, is_published,
                              metric_column_names, to_frame)
from bench.rows.io import RowLike, dumps_jsonl, validate_rows
from bench.rows.schema import (INTERVAL_LEVEL, SCHEMA_VERSION, Accuracy, CertifiedResult, MeanAccuracy,
                               PublishedResult, Row)
from bench.stats import Interval

FLAG_MARK = "⚠"
MISSING = "—"
NO_EXAMPLES = "n/a"
#: the fields of an accuracy that the CSV export adds beside its value column, as ``<column>.<field>``
CSV_ACCURACY_FIELDS = ("correct", "n", "low", "high")
#: the fields the CSV export adds beside a published value's column, as ``<column>.<field>``
CSV_PUBLISHED_FIELDS = ("inside", "evaluation", "source")
PUBLISHED_INSIDE = "✓"  # a published value inside the measured value's 95 % interval
PUBLISHED_OUTSIDE = "✗"
CERTIFIED_VIOLATION = "✗"  # a certified accuracy above its empirical partner (flagged)
CERTIFIED_HEADER = "[certified, empirical]"  # what a certified column's cells show


def format_value(column: str, value: Optional[float], missing: str = MISSING) -> str:
    """'clean', 0.8123 -> '81.23'; a probe value -> 4 significant digits; None -> ``missing``.

    The bare value, without interval; tables show accuracies with :func:`format_accuracy`."""
    if value is None:
        return missing
    return f"{100.0 * value:.2f}" if is_percentage(column) else f"{value:.4g}"


def accuracy_interval(acc: "Accuracy | MeanAccuracy") -> Interval:
    """The row's stored 95 % Clopper–Pearson interval of ``acc`` as a :class:`bench.stats.Interval`
    (a :class:`MeanAccuracy` has no integer count: ``k`` is None)."""
    k = acc.correct if isinstance(acc, Accuracy) else None
    return Interval(acc.value, acc.low, acc.high, k, acc.n, INTERVAL_LEVEL, "clopper-pearson")


def accuracy_digits(n: int) -> int:
    """Decimals of a percentage that resolve one example of ``n``: 1 up to n = 1000, 2 up to 10,000, ..."""
    return max(1, math.ceil(math.log10(n / 100))) if n > 0 else 1


def format_accuracy(acc: "Accuracy | MeanAccuracy | None", missing: str = MISSING, style: str = "pm",
                    digits: Optional[int] = None) -> str:
    """``'48.8 ± 4.5'`` (percent, ``style="pm"``) or ``'[44.3, 53.3]'`` (``style="bracket"``) from the
    accuracy's stored interval, with :func:`accuracy_digits` decimals unless ``digits`` is given;
    ``missing`` for None and ``'n/a'`` for an accuracy of no examples."""
    if acc is None:
        return missing
    if acc.n == 0:
        return NO_EXAMPLES
    digits = accuracy_digits(acc.n) if digits is None else digits
    return accuracy_interval(acc).format(percent=True, style=style, digits=digits)


def describe_accuracy(acc: "Accuracy | MeanAccuracy") -> str:
    """``'244/500 correct, 95 % Clopper-Pearson interval [44.3, 53.3] %'`` (a tooltip, a diff line)."""
    if acc.n == 0:
        return "no examples"
    interval = accuracy_interval(acc).format(percent=True, style="bracket", digits=2)
    if isinstance(acc, MeanAccuracy):
        return (f"mean of {acc.total_correct}/{acc.total_trials} correct trials on {acc.n} examples, "
                f"{100 * INTERVAL_LEVEL:g} % Clopper-Pearson interval of value x n in n {interval} %")
    return f"{acc.correct}/{acc.n} correct, {100 * INTERVAL_LEVEL:g} % Clopper-Pearson interval {interval} %"


def published_result(row: Row, column: str) -> Optional[PublishedResult]:
    """The row's published value shown in display column ``column`` (None if it has none)."""
    from bench.rows.labels import published_column

    return next((p for p in row.published if published_column(p) == column), None)


def published_inside(row: Row, published: PublishedResult) -> Optional[bool]:
    """Whether a published value lies inside the 95 % interval of the measured value it is compared
    with (the clean accuracy, or the worst case at its threat); None when the row has no such value."""
    from bench.rows.frame import partner_column

    acc = row.accuracies().get(partner_column(row, published))
    if acc is None or acc.n == 0:
        return None
    return acc.low - 1e-12 <= published.value <= acc.high + 1e-12


def format_published(row: Row, column: str, missing: str = MISSING) -> str:
    """``'59.53 ✓'`` (inside the measured value's 95 % interval), ``'59.53 ✗'`` (outside), ``'59.53'``
    (nothing measured to compare with), ``missing`` when the row has no published value there."""
    found = published_result(row, column)
    if found is None:
        return missing
    inside = published_inside(row, found)
    mark = "" if inside is None else " " + (PUBLISHED_INSIDE if inside else PUBLISHED_OUTSIDE)
    return f"{100.0 * found.value:.2f}{mark}"


def published_notes(rows: Iterable[Row]) -> list[str]:
    """One line per published column and source: what the value is, how and where it was published."""
    from bench.rows.labels import published_column

    notes: dict[tuple, str] = {}
    for row in rows:
        for p in row.published:
            how = f" ({p.evaluation})" if p.evaluation else ""
            notes.setdefault((published_column(p), p.source, p.evaluation), f"{published_column(p)}{how}: {p.source}")
    if not notes:
        return []
    return [f"published values ({PUBLISHED_INSIDE}: inside, {PUBLISHED_OUTSIDE}: outside the measured value's "
            f"{100 * INTERVAL_LEVEL:g} % interval):", *notes.values()]


def certified_result(row: Row, column: str) -> "Optional[CertifiedResult]":
    """The row's certified accuracy shown in display column ``certified[...]`` (None if it has none)."""
    from bench.rows.labels import certified_column

    return next((c for c in row.certified if f"certified[{certified_column(c)}]" == column), None)


def format_certified(row: Row, column: str, missing: str = MISSING) -> str:
    """``'[41.2, 52.0]'``: the certified (lower) and the empirical (upper) robust accuracy in %, of the
    same classifier at the same threat; ``'[41.2, —]'`` without an empirical value, ``' ✗'`` appended
    when certified > empirical (a violated sandwich, flagged); ``missing`` when the row has none."""
    found = certified_result(row, column)
    if found is None:
        return missing
    digits = accuracy_digits(found.accuracy.n)
    emp = found.empirical
    high = missing if emp is None else f"{100.0 * emp.value:.{digits}f}"
    mark = f" {CERTIFIED_VIOLATION}" if found.violation else ""
    return f"[{100.0 * found.accuracy.value:.{digits}f}, {high}]{mark}"


def table_rows(rows: Iterable[Row], mark: str = FLAG_MARK, missing: str = MISSING) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the main table: labels, every metric column (accuracies with their
    intervals), flags."""
    rows = list(rows)
    metrics = [name for name in metric_column_names(rows) if not is_empirical(name)]  # inside certified cells
    headers = ["model", "defense", "dataset", "seed"]
    headers += [f"{name} {CERTIFIED_HEADER} (%)" if is_certified(name) else f"{name} (%)" if is_percentage(name)
                else name for name in metrics] + ["flags"]
    cells = []
    for row in rows:
        accuracies, values = {**row.accuracies(), **row.mean_accuracies()}, row.metric_columns()
        model = f"{row.model} {mark}" if row.flags else row.model
        line = [model, row.defense, row.dataset, str(row.seed)]
        line += [format_certified(row, name, missing) if is_certified(name)
                 else format_accuracy(accuracies.get(name), missing) if is_accuracy(name)
                 else format_published(row, name, missing) if is_published(name)
                 else format_value(name, values.get(name), missing) for name in metrics]
        cells.append(line + [", ".join(row.flags)])
    return headers, cells


def _md_escape(text: str) -> str:
    """Text for markdown: backslash-escape ``\\``, ``<`` (so labels, notes and errors never open raw
    HTML: every HTML construct starts with ``<``) and ``|`` (table cells)."""
    return text.replace("\\", "\\\\").replace("<", "\\<").replace("|", "\\|")


def _md_code(text: str) -> str:
    """``text`` as a code span, or escaped text when a backtick would end the span early."""
    return _md_escape(text) if "`" in text or "\n" in text else f"`{text}`"


def to_markdown(rows: Iterable[RowLike]) -> str:
    """The main table in GitHub markdown."""
    rows = validate_rows(rows)
    headers, cells = table_rows(rows)
    cells = [[_md_escape(c) for c in line] for line in cells]
    text = tabulate(cells, headers=[_md_escape(h) for h in headers], tablefmt="github", disable_numparse=True)
    notes = published_notes(rows)  # the published columns' sources, under the table
    return text + "".join(f"\n\n{_md_escape(n)}" if i == 0 else f"\n- {_md_escape(n)}" for i, n in enumerate(notes))


def to_latex(rows: Iterable[RowLike]) -> str:
    """The main table as a booktabs LaTeX tabular (special characters escaped; ``±`` as ``$\\pm$``)."""
    rows = validate_rows(rows)
    headers, cells = table_rows(rows, mark="*", missing="--")
    text = tabulate(cells, headers=headers, tablefmt="latex_booktabs", disable_numparse=True)
    text = text.replace("±", "$\\pm$")  # tabulate would escape the '$' of a cell; ± renders the same
    text = text.replace(f" {PUBLISHED_INSIDE}", " (in)").replace(f" {PUBLISHED_OUTSIDE}", " (out)")
    notes = [_latex_escape(n).replace(PUBLISHED_INSIDE, "(in)").replace(PUBLISHED_OUTSIDE, "(out)")
             for n in published_notes(rows)]
    return text + "".join(f"\n\n{n}" if i == 0 else f"\\\\\n{n}" for i, n in enumerate(notes)) + "\n"


def _latex_escape(text: str) -> str:
    """Plain text for LaTeX (the published values' notes under the table)."""
    special = {"\\": "\\textbackslash{}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}",
               **{c: "\\" + c for c in "&%$#_{}"}}
    return "".join(special.get(c, c) for c in text)


def to_csv(rows: Iterable[RowLike]) -> str:
    """Flat CSV: one column per metric (fractions, full precision), each accuracy followed by
    ``<column>.correct``, ``<column>.n``, ``<column>.low`` and ``<column>.high`` (its count and its
    95 % Clopper–Pearson interval as fractions; empty where the metric is missing), flags joined
    by ';', ``prov.*``."""
    import pandas as pd

    rows = validate_rows(rows)
    frame = to_frame(rows)
    accuracies = {row.row_id: {**row.accuracies(), **row.mean_accuracies()} for row in rows}
    columns: list[str] = []
    added: dict[str, Any] = {}  # joined at once: hundreds of inserted columns (corruption cells) fragment a frame
    for name in list(frame.columns):
        columns.append(name)
        if not is_accuracy(name):
            continue
        found = [accuracies[row_id].get(name) for row_id in frame["row_id"]]
        for field in CSV_ACCURACY_FIELDS:
            if field in ("correct", "n"):  # counts stay integers; a missing one is an empty cell
                values = pd.array([pd.NA if acc is None or not hasattr(acc, field) else getattr(acc, field)
                                   for acc in found], dtype="Int64")  # a mean accuracy has no count
            else:
                values = pd.array([math.nan if acc is None else getattr(acc, field) for acc in found], dtype="float64")
            added[f"{name}.{field}"] = values
            columns.append(f"{name}.{field}")
    frame = pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)
    by_id = {row.row_id: row for row in rows}
    for name in [c for c in columns if is_published(c)]:  # its interval check and source beside each published value
        found = [published_result(by_id[row_id], name) for row_id in frame["row_id"]]
        extra = {"inside": pd.array([None if p is None else published_inside(by_id[row_id], p)
                                     for p, row_id in zip(found, frame["row_id"])], dtype="boolean"),
                 "evaluation": [None if p is None else p.evaluation for p in found],
                 "source": [None if p is None else p.source for p in found]}
        at = columns.index(name) + 1
        for field in CSV_PUBLISHED_FIELDS:
            frame[f"{name}.{field}"] = extra[field]
        columns[at:at] = [f"{name}.{field}" for field in CSV_PUBLISHED_FIELDS]
    return frame[columns].to_csv(index=False, lineterminator="\n")


def to_jsonl(rows: Iterable[RowLike]) -> str:
    """Canonical JSON lines (what ``rows.jsonl`` holds)."""
    return dumps_jsonl(rows)


EXPORTERS: dict[str, Callable[[Iterable[RowLike]], str]] = {
    "csv": to_csv, "jsonl": to_jsonl, "md": to_markdown, "latex": to_latex,
}


def export(rows: Iterable[RowLike], fmt: str) -> str:
    """Rows in one of :data:`EXPORTERS`' formats."""
    try:
        exporter = EXPORTERS[fmt]
    except KeyError:
        raise LeaderboardError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORTERS)}") from None
    text = exporter(rows)
    return text if text.endswith("\n") else text + "\n"


def _values(rows: list[Row], get: Callable[[Row], object]) -> str:
    return _md_escape(", ".join(sorted({str(get(r)) for r in rows}))) or MISSING


def _versions_table(rows: list[Row], field: str, header: str) -> str:
    versions: dict[str, set[str]] = {}
    for row in rows:
        for key, value in getattr(row.provenance, field).items():
            versions.setdefault(key, set()).add(value)
    if not versions:
        return "None."
    cells = [[_md_escape(k), _md_escape(", ".join(sorted(v)))] for k, v in sorted(versions.items())]
    return tabulate(cells, headers=[header, "version"], tablefmt="github", disable_numparse=True)


def provenance_section(rows: list[Row]) -> str:
    """Markdown: core, torch, device, platform, n, plus plugin and spec version tables."""
    lines = [
        "## Provenance", "",
        f"- Core version: {_values(rows, lambda r: r.provenance.core_version)}",
        f"- Suite version: {_values(rows, lambda r: r.provenance.suite_version)}",
        f"- Torch version: {_values(rows, lambda r: r.provenance.torch_version)}",
        f"- Device: {_values(rows, lambda r: r.provenance.device)}",
        f"- Platform: {_values(rows, lambda r: r.provenance.platform)}",
        f"- Evaluation examples (n): {_values(rows, lambda r: r.provenance.n)}",
        f"- Data fingerprints: {_values(rows, lambda r: r.provenance.data_fingerprint)}",
        "", "### Plugin distributions", "", _versions_table(rows, "plugins", "distribution"),
        "", "### Spec versions", "", _versions_table(rows, "specs", "component"),
    ]
    return "\n".join(lines)


def render_readme(rows: Iterable[RowLike], suite: str, version: str, created: str, notes: str = "") -> str:
    """The snapshot's README.md: header, notes, results table, errors and provenance."""
    rows = validate_rows(rows)
    flagged = sum(1 for r in rows if r.flags)
    failed = sum(1 for r in rows if r.errors)
    parts = [
        f"# Leaderboard: {_md_escape(suite)} {_md_escape(version)}", "",
        f"- Suite: {_md_code(suite)}", f"- Version: {_md_code(version)}", f"- Created: {_md_escape(created)}",
        f"- Rows: {len(rows)} ({flagged} flagged, {failed} with errors)",
        f"- Schema version: {SCHEMA_VERSION}",
        "- Files: `rows.jsonl` (the data), `rows.csv`, `meta.json`", "",
    ]
    if notes.strip():
        parts += ["## Notes", "", notes.strip().replace("<", "&lt;"), ""]  # markdown kept, raw HTML never
    parts += [
        "## Results", "",
        "Accuracy columns (%) are percentages of the evaluation examples with their 95 % Clopper-Pearson "
        "interval (`48.8 ± 4.5`: the larger distance from the value to an end of the interval; `rows.csv` "
        "holds the count and both ends); `ensemble` is the per-example "
        f"worst case over the suite's attacks. {FLAG_MARK} marks a row where an attack-failure indicator "
        f"fired (see `flags`): its robust numbers may be overestimates. {MISSING} marks a metric that "
        "could not be computed (see Errors).", "",
        to_markdown(rows) if rows else "No rows.", "",
        "## Errors", "",
    ]
    errors = [f"- {_md_code(r.row_id)}: {' '.join(_md_escape(e).split())}" for r in rows for e in r.errors]
    parts += (errors or ["None."]) + ["", provenance_section(rows), ""]
    return "\n".join(parts)
