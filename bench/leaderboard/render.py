"""Render rows: markdown (README), CSV, JSON lines and LaTeX.

Accuracies (clean, robust, ensemble) are shown as percentages with two decimals; probe and
task values with four significant digits. A flagged row's model is marked with ``⚠``
(``*`` in LaTeX) and its flags are listed in a ``flags`` column.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from tabulate import tabulate

from bench.errors import LeaderboardError
from bench.leaderboard.frame import is_accuracy, metric_column_names, to_frame
from bench.leaderboard.rows import RowLike, dumps_jsonl, validate_rows
from bench.leaderboard.schema import SCHEMA_VERSION, Row

FLAG_MARK = "⚠"
MISSING = "—"


def format_value(column: str, value: Optional[float], missing: str = MISSING) -> str:
    """'clean', 0.8123 -> '81.23'; a probe value -> 4 significant digits; None -> ``missing``."""
    if value is None:
        return missing
    return f"{100.0 * value:.2f}" if is_accuracy(column) else f"{value:.4g}"


def table_rows(rows: Iterable[Row], mark: str = FLAG_MARK, missing: str = MISSING) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the main table: labels, every metric column, flags."""
    rows = list(rows)
    metrics = metric_column_names(rows)
    headers = ["model", "defense", "dataset", "seed"]
    headers += [f"{name} (%)" if is_accuracy(name) else name for name in metrics] + ["flags"]
    cells = []
    for row in rows:
        values = row.metric_columns()
        model = f"{row.model} {mark}" if row.flags else row.model
        line = [model, row.defense, row.dataset, str(row.seed)]
        line += [format_value(name, values.get(name), missing) for name in metrics]
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
    headers, cells = table_rows(validate_rows(rows))
    cells = [[_md_escape(c) for c in line] for line in cells]
    return tabulate(cells, headers=[_md_escape(h) for h in headers], tablefmt="github", disable_numparse=True)


def to_latex(rows: Iterable[RowLike]) -> str:
    """The main table as a booktabs LaTeX tabular (special characters escaped)."""
    headers, cells = table_rows(validate_rows(rows), mark="*", missing="--")
    return tabulate(cells, headers=headers, tablefmt="latex_booktabs", disable_numparse=True) + "\n"


def to_csv(rows: Iterable[RowLike]) -> str:
    """Flat CSV: one column per metric (fractions, full precision), flags joined by ';', ``prov.*``."""
    return to_frame(rows).to_csv(index=False, lineterminator="\n")


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
        "Accuracy columns (%) are percentages of the evaluation examples; `ensemble` is the per-example "
        f"worst case over the suite's attacks. {FLAG_MARK} marks a row where an attack-failure indicator "
        f"fired (see `flags`): its robust numbers may be overestimates. {MISSING} marks a metric that "
        "could not be computed (see Errors).", "",
        to_markdown(rows) if rows else "No rows.", "",
        "## Errors", "",
    ]
    errors = [f"- {_md_code(r.row_id)}: {' '.join(_md_escape(e).split())}" for r in rows for e in r.errors]
    parts += (errors or ["None."]) + ["", provenance_section(rows), ""]
    return "\n".join(parts)
