"""A static page comparing two versions of a suite's leaderboard (the HTML view of
:func:`bench.leaderboard.diff.diff_snapshots`).

Written two ways: ``robarena leaderboard build`` puts ``compare-<old>.html`` into a new snapshot
when an earlier version exists (the latest one, or ``--compare OLD``), linked from its
``index.html``; ``robarena leaderboard diff SUITE OLD NEW --html FILE`` writes the page for any
two versions. It lists the added and removed rows, and for each changed row every metric that
moved (old and new value with their 95 % intervals, the change in points, whether it is
significant or within noise by the diff's test), the flags and errors that came or went, and
the provenance fields that moved (the likely cause); then the rows whose provenance moved while
their results did not. No server, no network, no script.
"""
from __future__ import annotations

from typing import Optional

from bench.leaderboard.diff import SIGNIFICANCE_LEVEL, SIGNIFICANCE_TEST, MetricChange, RowChange, SnapshotDiff
from bench.leaderboard.html import esc, flag_badge
from bench.leaderboard.page_assets import CSS
from bench.leaderboard.render import MISSING, describe_accuracy, format_accuracy, format_value
from bench.rows.frame import is_accuracy
from bench.rows.schema import Accuracy


def _value(change: MetricChange, side: str) -> str:
    value = change.old if side == "old" else change.new
    count = change.old_count if side == "old" else change.new_count
    if value is None:
        return f'<td class="missing">{esc(MISSING)}</td>'
    if is_accuracy(change.column) and count is not None:
        acc = Accuracy.of(*count)
        return f'<td class="num" title="{esc(describe_accuracy(acc))}">{esc(format_accuracy(acc))}</td>'
    return f'<td class="num">{esc(format_value(change.column, value))}</td>'


def _delta(change: MetricChange) -> str:
    if change.kind != "changed":
        return {"added": "new column", "removed": "column gone"}[change.kind]
    if change.delta is None:
        return ""
    if is_accuracy(change.column):
        return f"{100 * change.delta:+.2f} pp"
    return f"{change.delta:+.4g}"


def _significance(change: MetricChange) -> str:
    s = change.significance
    if s is None:
        return ""
    cls = ' class="significant"' if s.significant else ""
    return f"<span{cls}>{esc(s.verdict)}</span> (p = {s.p_value:.2g})"


def _moves(change: RowChange) -> str:
    if not change.moved:
        return "no provenance field moved (nondeterminism, or a change no version records)"
    return "; ".join(f"{m.field} {m.old if m.old is not None else '(absent)'} → {m.new if m.new is not None else '(absent)'}"
                     for m in change.moved)


def _row_section(change: RowChange, index: Optional[str]) -> str:
    parts = [f'<section class="change" data-row-id="{esc(change.row_id)}"><h3><code>{esc(change.row_id)}</code></h3>']
    if change.metrics:
        lines = "".join(
            f'<tr data-column="{esc(m.column)}" data-kind="{esc(m.kind)}"><td>{esc(m.column)}</td>'
            f"{_value(m, 'old')}{_value(m, 'new')}<td class=\"num\">{esc(_delta(m))}</td>"
            f"<td>{_significance(m)}</td></tr>" for m in change.metrics)
        parts.append('<div class="plain-wrap"><table class="plain"><thead><tr><th>column</th><th>old</th><th>new</th>'
                     f"<th>change</th><th>significance</th></tr></thead><tbody>{lines}</tbody></table></div>")
    for label, (added, removed) in (("flags", (change.flags_added, change.flags_removed)),
                                    ("errors", (change.errors_added, change.errors_removed))):
        items = [f"<li>new: {flag_badge(x, index) if label == 'flags' else esc(x)}</li>" for x in added]
        items += [f"<li>gone: {esc(x)}</li>" for x in removed]
        if items:
            parts.append(f"<p>{label}:</p><ul>{''.join(items)}</ul>")
    parts.append(f"<p>why (versions moved): {esc(_moves(change))}</p></section>")
    return "".join(parts)


def render_compare(diff: SnapshotDiff, *, suite: str, old: str, new: str,
                   links: Optional[tuple[str, str]] = None) -> str:
    """The compare page of ``diff`` (old -> new). ``links``: (href of the old version's page, href of
    the new one's), for a page that sits inside a snapshot."""
    tol = "exact" if diff.atol == 0 else f"tolerance {diff.atol:g}"
    title = f"Leaderboard {suite}: {old} → {new}"
    summary = (f"{diff.unchanged} unchanged, {len(diff.added)} added, {len(diff.removed)} removed, "
               f"{len(diff.changed)} changed ({tol})")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{esc(title)}</title>",
             f"<style>{CSS}</style>", "</head>", "<body>", f"<h1>{esc(title)}</h1>"]
    if links is not None:
        parts.append(f'<p class="links"><a href="{esc(links[0])}">version {esc(old)}</a> · '
                     f'<a href="{esc(links[1])}">version {esc(new)}</a></p>')
    parts.append(f'<p id="summary">{esc(summary)}.</p>')
    parts.append('<p class="explain">Rows are matched by row id, metrics by column. An accuracy change is '
                 f"<em>significant</em> at level {SIGNIFICANCE_LEVEL:g} by a {esc(SIGNIFICANCE_TEST)}; otherwise it is "
                 "<em>within noise</em>. Values are percentages with their 95 % Clopper&#8211;Pearson interval "
                 "(hover for the count). <em>Why</em> lists the provenance fields that moved: the likely cause.</p>")
    if diff.identical:
        parts.append('<p id="identical">The versions hold identical results.</p>')
    for key, heading, rows in (("added", "Added rows", diff.added), ("removed", "Removed rows", diff.removed)):
        if rows:
            parts.append(f'<h2 id="{key}">{heading}</h2><ul class="{key}">' + "".join(
                f'<li data-row-id="{esc(r.row_id)}"><code>{esc(r.row_id)}</code></li>' for r in rows) + "</ul>")
    if diff.changed:
        parts.append('<h2 id="changed">Changed rows</h2>')
        index = None if links is None else links[1]  # the new version's page explains its flags
        parts += [_row_section(change, index) for change in diff.changed]
    if diff.moved_only:
        parts.append('<h2 id="moved">Provenance moved, results unchanged</h2><ul class="moved">' + "".join(
            f'<li data-row-id="{esc(c.row_id)}"><code>{esc(c.row_id)}</code>: {esc(_moves(c))}</li>'
            for c in diff.moved_only) + "</ul>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
