"""The snapshot's ``index.html``: one static page, no server, no network.

The page holds, in order: the suite's description, the snapshot's facts and links (data files,
the compare page), a ranked table, the claims' verdicts, what each attack-failure indicator
means, the plots (``plots/*.png``) and the task images (``artifacts/*.png``, grids labelled
with the layout their PNG declares, :mod:`bench.leaderboard.grids`), and every error.

The table: rank and lowest worst-case robust accuracy (:mod:`bench.leaderboard.ranking`; the
default order), labels, flags as badges linked to their explanation, each row's provenance in a
``<details>`` expansion, then one column per metric (clean, robust per attack and threat model,
worst case per threat model, probes, tasks). Accuracies are percentages with their 95 % interval;
the count and the interval's ends are in the cell's tooltip and ``data-*`` attributes. Rank and
model stay in view while the table scrolls sideways (phones). A search box, dataset and flag
filters, metric-group checkboxes and a column-name filter hide rows and columns client-side;
clicking a header sorts. CSS and JavaScript are inline (:mod:`bench.leaderboard.page_assets`);
every piece of text (labels come from user suites) goes through :func:`html.escape`.
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Mapping, Optional, Sequence

from bench.leaderboard import flag_notes
from bench.leaderboard.grids import GridLayout
from bench.leaderboard.page_assets import CSS, JS
from bench.leaderboard.plots import ArtifactImage, PlotSpec, row_labels
from bench.leaderboard.ranking import RANK_RULE, Standing, standings
from bench.leaderboard.render import FLAG_MARK, MISSING, describe_accuracy, format_accuracy, format_value
from bench.rows.frame import (is_accuracy, is_certified, is_empirical, is_percentage, is_published,
                              metric_column_names, metric_group)
from bench.rows.schema import Accuracy, Provenance, Row

PLOT_SECTIONS = (
    ("eps-curve", "Robust accuracy vs eps"),
    ("histogram", "Histograms"),
    ("per-layer", "Per-layer curves"),
    ("curve", "Curves"),
    ("column-family", "Column families"),
    ("epoch-curve", "Probes over training"),
)
GROUP_NAMES = {"clean": "", "robust": "robust", "ensemble": "worst case", "probe": "probe", "task": "task"}
#: metric group -> the label of its show/hide checkbox
GROUP_TOGGLES = {"clean": "clean", "robust": "robust per attack", "ensemble": "worst case per threat model",
                 "probe": "probes", "task": "tasks"}
GROUP_TOGGLES.setdefault("corruption", "common corruptions")  # defaults: the group name as caption
GROUP_NAMES.setdefault("certified", "[certified, empirical]")
GROUP_TOGGLES.setdefault("certified", "certified vs empirical")
GROUP_TOGGLES.setdefault("published", "published values")  # e.g. RobustBench's, beside the measured ones
VERDICT_CLASSES = {"holds": "holds", "does not hold": "fails", "inconclusive": "inconclusive", "error": "fails"}


def esc(value: object) -> str:
    """Text or attribute value, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _header(name: str) -> tuple[str, str, str]:
    """Column name -> (group caption, name, data-type)."""
    group = metric_group(name)
    inner = name[len(group) + 1:-1] if name.endswith("]") and "[" in name else name
    unit = " (%)" if is_percentage(name) else ""
    return GROUP_NAMES.get(group, group), inner + unit, "number"


def _th(caption: str, name: str, kind: str, column: str, sortable: bool = True, *, group: str = "",
        classes: str = "", sort: str = "", title: str = "") -> str:
    caption_html = f'<span class="group">{esc(caption)}</span>' if caption else '<span class="group">&#160;</span>'
    inner = f'{caption_html}<span class="name">{esc(name)}</span>'
    tip = title or f"sort by {column}"
    content = f'<button type="button" title="{esc(tip)}">{inner}</button>' if sortable else inner
    attrs = f' data-group="{esc(group)}"' if group else ""
    attrs += f' class="{classes}"' if classes else ""
    attrs += f' aria-sort="{sort}" data-first="{sort}"' if sort else ""
    return f'<th scope="col" data-type="{kind}" data-column="{esc(column)}"{attrs}>{content}</th>'


def _provenance_summary(prov: Provenance) -> str:
    return (f"core {prov.core_version}, torch {prov.torch_version}, {prov.device}, n={prov.n}, seed {prov.seed}, "
            f"config {prov.config_hash}, data {prov.data_fingerprint}, {prov.date}")


def _mapping_list(mapping: dict[str, str]) -> str:
    if not mapping:
        return "none"
    return "<ul>" + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in sorted(mapping.items())) + "</ul>"


def _details(row: Row, images: Sequence[ArtifactImage], plots: Sequence[PlotSpec]) -> str:
    prov = row.provenance
    items: list[tuple[str, str]] = [
        ("row_id", esc(row.row_id)),
        ("ids", esc(f"{row.dataset_id}, {row.model_id}, {row.defense_id}")),
    ]
    for name, value in prov.model_dump().items():
        items.append((name, _mapping_list(value) if isinstance(value, dict) else esc(value)))
    files = {img.name: img.file for img in images}
    artifacts = {}
    for name, digest in sorted(row.artifacts.items()):
        link = f' (<a href="{esc(files[name])}">{esc(files[name])}</a>)' if name in files else ""
        artifacts[name] = f"{esc(digest)}{link}"
    items.append(("artifacts", "<ul>" + "".join(f"<li>{esc(k)}: {v}</li>" for k, v in artifacts.items()) + "</ul>"
                  if artifacts else "none"))
    if plots:
        items.append(("plots", "<ul>" + "".join(f'<li><a href="{esc(p.file)}">{esc(p.title)}</a></li>' for p in plots)
                      + "</ul>"))
    items.append(("flags", "<ul>" + "".join(f"<li>{esc(f)}</li>" for f in row.flags) + "</ul>" if row.flags else "none"))
    items.append(("errors", "<ul>" + "".join(f"<li>{esc(e)}</li>" for e in row.errors) + "</ul>"
                  if row.errors else "none"))
    body = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    return f"<details><summary>provenance</summary><dl>{body}</dl></details>"


def flag_badge(flag: str, page: Optional[str] = "") -> str:
    """A flag as a badge: its meaning in the tooltip, a link to its row of the explanations table on
    ``page`` ("" for this page; None: no link, for a page without the table)."""
    name = flag_notes.indicator(flag)
    meaning = flag_notes.explain(flag)
    tip = f"{name}: {meaning}" if meaning is not None else f"{name}: {flag_notes.UNKNOWN}"
    unknown = "" if meaning is not None else " unknown"
    href = "" if page is None else f' href="{esc(page)}#{esc(flag_notes.anchor(name))}"'
    return (f'<a class="flag{unknown}"{href} title="{esc(tip)}" '
            f'data-indicator="{esc(name)}">{esc(flag)}</a>')


def _accuracy_cell(acc: Accuracy, value: float, title: str = "", extra: str = "") -> str:
    tip = describe_accuracy(acc) + (f"; {title}" if title else "")
    count = f'data-correct="{acc.correct}" ' if isinstance(acc, Accuracy) else ""  # a mean has no count
    return (f'<td class="num{extra}" data-sort="{value!r}" {count}data-n="{acc.n}" '
            f'data-low="{acc.low!r}" data-high="{acc.high!r}" title="{esc(tip)}">{esc(format_accuracy(acc))}</td>')


def _rank_cells(standing: Standing, ranked: bool) -> list[str]:
    """The rank cell (sorts by the page's default order) and the lowest worst case cell."""
    if not ranked:
        return []
    if standing.rank is None:
        why = ("not ranked: no bounded threat model" if not standing.threats
               else "not ranked: a worst-case cell is missing")
        rank = f'<td class="rank sticky-1" data-sort="{standing.position}" title="{esc(why)}">{esc(MISSING)}</td>'
    else:
        tip = f"rank {standing.rank} of {standing.group_size} in {standing.group}"
        rank = f'<td class="rank sticky-1" data-sort="{standing.position}" title="{esc(tip)}">{standing.rank}</td>'
    if standing.worst is None:
        worst = f'<td class="missing" data-sort="">{esc(MISSING)}</td>'
    else:
        note = f"lowest at {standing.threat}, of {_plural(len(standing.threats), 'bounded threat model')}"
        worst = _accuracy_cell(standing.worst, standing.worst.value, note)
    return [rank, worst]


def _search_text(row: Row) -> str:
    return " ".join([row.row_id, row.model, row.defense, row.dataset, f"seed{row.seed}", *row.flags,
                     *(["errors"] if row.errors else []), *(["flagged"] if row.flags else [])]).lower()


def _certified_cell(row: Row, name: str, value: float) -> str:
    """``[certified, empirical]`` of one threat; sorts by the certified value; counts and sources in the tooltip."""
    from bench.leaderboard.render import certified_result, format_certified

    found = certified_result(row, name)
    emp = found.empirical if found is not None else None
    tip = "" if found is None else (
        f"certified (lower bound, {found.source_id}, {found.classifier} classifier): "
        f"{describe_accuracy(found.accuracy)}; "
        + (f"empirical (upper bound, {found.empirical_source}): {describe_accuracy(emp)}" if emp is not None
           else "no empirical value at this threat")
        + ("; VIOLATION: certified above empirical, a bug in one of them" if found.violation else ""))
    extra = " violation" if found is not None and found.violation else ""
    return (f'<td class="num certified{extra}" data-sort="{value!r}" title="{esc(tip)}">'
            f'{esc(format_certified(row, name))}</td>')


def _published_cell(row: Row, name: str, value: float) -> str:
    """A published value: ✓/✗ inside/outside the measured value's 95 % interval; source in the tooltip."""
    from bench.leaderboard.render import format_published, published_inside, published_result

    found = published_result(row, name)
    inside = published_inside(row, found) if found is not None else None
    check = ("no measured value to compare with" if inside is None else
             f"{'inside' if inside else 'outside'} the measured value's 95 % interval")
    how = f" ({found.evaluation})" if found is not None and found.evaluation else ""
    tip = f"published{how}: {found.source if found is not None else ''}; {check}"
    return f'<td class="num published" data-sort="{value!r}" title="{esc(tip)}">{esc(format_published(row, name))}</td>'


def render_table(rows: Sequence[Row], images: Sequence[ArtifactImage] = (), plots: Sequence[PlotSpec] = ()) -> str:
    """The ``<table id="leaderboard">``: one ``<tr>`` per row in the default order (by rank when any row
    has a bounded worst case, else by row id): rank and lowest worst case, labels, flags, provenance,
    then one sortable column per metric."""
    metrics = [n for n in metric_column_names(rows) if not is_empirical(n)]  # inside the certified cells
    places = {s.row_id: s for s in standings(rows)}
    ranked = any(s.worst is not None or s.threats for s in places.values())
    order = sorted(rows, key=lambda r: places[r.row_id].position) if ranked else sorted(rows, key=lambda r: r.row_id)
    head = []
    if ranked:
        head += [_th("", "rank", "number", "rank", classes="sticky-1", sort="ascending",
                     title="sort by rank (the default order): " + RANK_RULE),
                 _th("ranked by", "lowest worst case (%)", "number", "lowest worst case",
                     title="sort by the lowest worst-case robust accuracy over the bounded threat models")]
    label_class = "sticky-2" if ranked else "sticky-1"
    head += [_th("", "model", "text", "model", classes=label_class), _th("", "defense", "text", "defense"),
             _th("", "dataset", "text", "dataset"), _th("", "seed", "number", "seed")]
    head += [_th("", "flags", "text", "flags"), _th("", "details", "text", "details", sortable=False)]
    head += [_th(*_header(name), name, group=metric_group(name)) for name in metrics]
    lines = []
    for row in order:
        values = row.metric_columns()
        classes = " ".join(c for c, on in (("flagged", row.flags), ("has-errors", row.errors)) if on)
        mark = f" {FLAG_MARK}" if row.flags else ""
        cells = _rank_cells(places[row.row_id], ranked)
        cells += [
            f'<td class="label {label_class}" data-sort="{esc(row.model)}" '
            f'title="{esc(_provenance_summary(row.provenance))}">{esc(row.model)}{esc(mark)}</td>',
            f'<td data-sort="{esc(row.defense)}">{esc(row.defense)}</td>',
            f'<td data-sort="{esc(row.dataset)}">{esc(row.dataset)}</td>',
            f'<td class="num" data-sort="{row.seed}">{row.seed}</td>',
        ]
        flags = "".join(flag_badge(f) for f in row.flags)
        if row.errors:
            flags += f'<span class="error-count">{_plural(len(row.errors), "error")}</span>'
        cells.append(f'<td data-sort="{esc(";".join(row.flags))}">{flags}</td>')
        own_images = [img for img in images if img.row_id == row.row_id]
        own_plots = [p for p in plots if row.row_id in p.rows]
        cells.append(f"<td>{_details(row, own_images, own_plots)}</td>")
        accuracies = {**row.accuracies(), **row.mean_accuracies()}
        for name in metrics:
            value = values.get(name)
            acc = accuracies.get(name) if is_accuracy(name) else None
            if value is None:
                cells.append(f'<td class="missing" data-sort="">{esc(MISSING)}</td>')
            elif is_certified(name):  # [certified, empirical]
                cells.append(_certified_cell(row, name, value))
            elif acc is not None:  # the value sorts; the interval is shown, the count in the tooltip
                cells.append(_accuracy_cell(acc, value))
            elif is_published(name):  # the source and the interval check in the tooltip
                cells.append(_published_cell(row, name, value))
            else:
                cells.append(f'<td class="num" data-sort="{value!r}">{esc(format_value(name, value))}</td>')
        attrs = (f' data-search="{esc(_search_text(row))}" data-dataset="{esc(row.dataset)}" '
                 f'data-flagged="{1 if row.flags else 0}"')
        lines.append(f'<tr data-row-id="{esc(row.row_id)}"' + (f' class="{classes}"' if classes else "") + attrs
                     + ">" + "".join(cells) + "</tr>")
    return ('<div class="table-wrap"><table id="leaderboard" class="leaderboard">\n<thead><tr>' + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody></table></div>")


def render_controls(rows: Sequence[Row]) -> str:
    """Search box, dataset and flag filters, metric-group checkboxes, column-name filter, row count."""
    parts = ['<label class="search">Search rows <input type="search" id="lb-search" '
             'placeholder="model, defense, dataset, flag" autocomplete="off"></label>']
    datasets = sorted({r.dataset for r in rows})
    if len(datasets) > 1:
        options = "".join(f'<option value="{esc(d)}">{esc(d)}</option>' for d in datasets)
        parts.append(f'<label>Dataset <select id="lb-dataset"><option value="">all</option>{options}</select></label>')
    if any(r.flags for r in rows):
        parts.append('<label>Flags <select id="lb-flagged"><option value="">all rows</option>'
                     '<option value="flagged">flagged only</option><option value="clean">not flagged</option>'
                     "</select></label>")
    groups = list(dict.fromkeys(metric_group(n) for n in metric_column_names(rows) if not is_empirical(n)))
    if len(groups) > 1:
        boxes = "".join(f'<label><input type="checkbox" data-group="{esc(g)}" checked> '
                        f"{esc(GROUP_TOGGLES.get(g, g))}</label> " for g in groups)
        parts.append(f"<fieldset><legend>columns</legend>{boxes}</fieldset>")
    parts.append('<label class="search">Columns matching <input type="search" id="lb-columns" placeholder="e.g. Linf 0.1" '
                 'autocomplete="off"></label>')
    parts.append(f'<span id="lb-count" aria-live="polite">{len(rows)} of {len(rows)} rows shown</span>')
    return '<div class="controls" role="search">' + "".join(parts) + "</div>"


def _figure(file: str, title: str, source: str = "") -> str:
    """A plot (its title is drawn in the image; the caption names the columns or arrays it shows)."""
    caption = f"<figcaption>from <code>{esc(source)}</code></figcaption>" if source else ""
    return (f'<figure><a href="{esc(file)}"><img src="{esc(file)}" alt="{esc(title)}" title="{esc(title)}" '
            f'width="640" height="400"></a>{caption}</figure>')


def render_plots(plots: Sequence[PlotSpec]) -> str:
    parts = []
    known = {kind for kind, _ in PLOT_SECTIONS}
    sections = list(PLOT_SECTIONS) + [(k, k) for k in dict.fromkeys(p.kind for p in plots) if k not in known]
    for kind, title in sections:
        chosen = [p for p in plots if p.kind == kind]
        if chosen:
            parts.append(f"<h3>{esc(title)}</h3>\n<div class=\"figures\">"
                         + "".join(_figure(p.file, p.title, p.source) for p in chosen) + "</div>")
    return "\n".join(parts) if parts else "<p>No plots: no column or array of these rows follows a plot convention.</p>"


def _grid_figure(img: ArtifactImage, label: str, layout: GridLayout) -> str:
    alt = img.name + (f": rows {', '.join(layout.rows)}" if layout.rows else "")
    image = f'<a href="{esc(img.file)}"><img class="task" src="{esc(img.file)}" alt="{esc(alt)}"></a>'
    caption = esc(label)
    if layout.rows:
        items = "".join(f"<li>{esc(r)}</li>" for r in layout.rows)
        image = f'<div class="grid"><ol class="grid-rows" aria-label="grid rows, top to bottom">{items}</ol>{image}</div>'
        caption += f"<br>rows, top to bottom: {esc(' · '.join(layout.rows))}"
    if layout.columns:
        caption += f"<br>columns, left to right: {esc(' · '.join(layout.columns))}"
    return f'<figure data-row-id="{esc(img.row_id)}">{image}<figcaption>{caption}</figcaption></figure>'


def render_images(rows: Sequence[Row], images: Sequence[ArtifactImage],
                  layouts: Optional[Mapping[str, GridLayout]] = None) -> str:
    """One section per task artifact ('<task>.<name>'), the rows side by side; a grid whose PNG declares
    its layout (``layouts``: image file -> :class:`GridLayout`) has its rows labelled beside it."""
    if not images:
        return "<p>No task images.</p>"
    labels = row_labels(rows)
    layouts = layouts or {}
    by_name: dict[str, list[ArtifactImage]] = {}
    for img in images:
        by_name.setdefault(img.name, []).append(img)
    parts = []
    for name, chosen in sorted(by_name.items()):
        parts.append(f"<h3>{esc(name)}</h3>\n<div class=\"figures\">" + "".join(
            _grid_figure(img, labels.get(img.row_id, img.row_id), layouts.get(img.file, GridLayout()))
            for img in chosen) + "</div>")
    return "\n".join(parts)


def _claim_value(outcome: Any, name: str) -> Any:
    return outcome.get(name) if isinstance(outcome, Mapping) else getattr(outcome, name)


def claim_records(claims: Iterable[Any]) -> list[dict[str, Any]]:
    """Claims as plain records (claim, paper, statement, holds, status, numbers, detail) from
    :class:`bench.claims.ClaimOutcome` objects or records of that shape (``outcomes_json``); numbers
    that are not finite become None (JSON has no NaN)."""
    out = []
    for c in claims:
        if isinstance(c, Mapping):
            record = dict(c)
        else:
            record = {"claim": c.claim, "paper": c.paper, "statement": c.statement, "holds": c.result.holds,
                      "status": c.status, "numbers": dict(c.result.numbers), "detail": c.result.detail}
        record["numbers"] = {str(k): (float(v) if v is not None and math.isfinite(float(v)) else None)
                             for k, v in (record.get("numbers") or {}).items()}
        record.setdefault("status", {True: "holds", False: "does not hold"}.get(record.get("holds"), "not checked"))
        out.append(record)
    return out


def render_claims(claims: Optional[Sequence[Any]], suite: str, version: str) -> str:
    """The claims' verdicts as evaluated on this snapshot's rows (None: not evaluated for the page)."""
    if claims is None:
        return ("<p>Claims were not evaluated when this page was built; run <code>robarena claims "
                f"{esc(suite)} --version {esc(version)}</code>.</p>")
    records = claim_records(claims)
    if not records:
        return f"<p>No registered claim is about suite <code>{esc(suite)}</code>.</p>"
    counts = {status: sum(1 for r in records if r["status"] == status)
              for status in ("holds", "does not hold", "inconclusive", "error", "not checked")}
    others = sum(1 for r in records if r["status"] not in counts)
    failed = counts["does not hold"]
    parts = [f"{counts['holds']} of {len(records)} claims hold", f"{failed} {'does' if failed == 1 else 'do'} not hold"]
    parts += [f"{counts[s]} {s}" for s in ("inconclusive", "error") if counts[s]]
    parts.append(f"{counts['not checked'] + others} not checked")
    summary = (f"<p>{', '.join(parts)}: evaluated on this snapshot's rows when it was built "
               f"(<code>robarena claims {esc(suite)} --version {esc(version)}</code> checks again).</p>")
    lines = []
    for r in records:
        verdict = VERDICT_CLASSES.get(r["status"], "unchecked")
        numbers = ", ".join(f"{k} = {MISSING if v is None else format(v, '.4g')}" for k, v in r["numbers"].items())
        lines.append(
            f'<tr data-claim="{esc(r["claim"])}" data-status="{esc(r["status"])}">'
            f'<td><span class="verdict {verdict}">{esc(r["status"])}</span></td><td><code>{esc(r["claim"])}</code></td>'
            f'<td>{esc(r["statement"])}</td><td>{esc(r.get("paper") or "")}</td><td>{esc(numbers)}</td>'
            f'<td>{esc(r.get("detail") or "")}</td></tr>')
    return (summary + '<div class="plain-wrap"><table class="plain" id="claims"><thead><tr><th>verdict</th><th>claim</th>'
            "<th>statement</th><th>paper</th><th>numbers</th><th>detail</th></tr></thead><tbody>"
            + "".join(lines) + "</tbody></table></div>")


def render_flag_notes(rows: Sequence[Row]) -> str:
    """Every known indicator (and any other that fired) with its meaning and how many rows it flags."""
    fired: dict[str, set[str]] = {}
    for row in rows:
        for flag in row.flags:
            fired.setdefault(flag_notes.indicator(flag), set()).add(row.row_id)
    names = list(flag_notes.INDICATORS) + sorted(n for n in fired if n not in flag_notes.INDICATORS)
    lines = []
    for name in names:
        source, meaning = flag_notes.INDICATORS.get(name, ("unknown", flag_notes.UNKNOWN))
        count = len(fired.get(name, ()))
        lines.append(f'<tr id="{esc(flag_notes.anchor(name))}"><td><code>{esc(name)}</code></td>'
                     f'<td class="num">{count}</td><td>{esc(meaning)}</td><td>{esc(source)}</td></tr>')
    flagged = sum(1 for r in rows if r.flags)
    intro = (f"<p>An attack-failure indicator says a row's robust numbers may be overestimates: the attacks, not "
             f"the model, may have failed. {_plural(flagged, 'row')} of {len(rows)} {'is' if flagged == 1 else 'are'} "
             f"flagged here. A flag reads <code>indicator:where</code>. The thresholds quoted are the defaults; "
             f"definitions and parameters: "
             f"{esc(flag_notes.DOCS)}.</p>")
    return (intro + '<div class="plain-wrap"><table class="plain" id="flag-notes"><thead><tr><th>indicator</th>'
            "<th>rows</th><th>meaning</th><th>from</th></tr></thead><tbody>" + "".join(lines) + "</tbody></table></div>")


def render_index(rows: Iterable[Row], *, suite: str, version: str, created: str, notes: str = "",
                 plots: Sequence[PlotSpec] = (), images: Sequence[ArtifactImage] = (),
                 downloads: Sequence[str] = (), schema_version: Optional[str] = None, description: str = "",
                 claims: Optional[Sequence[Any]] = None, layouts: Optional[Mapping[str, GridLayout]] = None,
                 compare: Optional[tuple[str, str]] = None) -> str:
    """The complete ``index.html`` of a snapshot (deterministic for its inputs).

    ``description``: the suite's description; ``claims``: the claims' outcomes on these rows
    (:class:`bench.claims.ClaimOutcome` or ``outcomes_json`` records; None: not evaluated);
    ``layouts``: image file -> declared grid layout; ``compare``: (old version, file of the
    compare page) when the snapshot holds one.
    """
    rows = sorted(rows, key=lambda r: r.row_id)
    flagged = sum(1 for r in rows if r.flags)
    failed = sum(1 for r in rows if r.errors)
    title = f"Leaderboard: {suite} {version}"
    links = " · ".join(f'<a href="{esc(f)}">{esc(f)}</a>' for f in downloads)
    meta = [f"Suite <code>{esc(suite)}</code>, version <code>{esc(version)}</code>, created {esc(created)}",
            f"{_plural(len(rows), 'row')} ({flagged} flagged, {failed} with errors)"]
    if schema_version:
        meta.append(f"Row schema version {esc(schema_version)}")
    if links:
        meta.append(f"Data: {links}")
    if compare is not None:
        meta.append(f'Changes since version <code>{esc(compare[0])}</code>: <a href="{esc(compare[1])}">'
                    f"{esc(compare[1])}</a>")
    errors = [f"<li><code>{esc(r.row_id)}</code>: {esc(e)}</li>" for r in rows for e in r.errors]
    sections = [("results", "Results"), ("claims", "Claims"), ("flags", "Flags"), ("plots", "Plots"),
                ("images", "Task images"), ("errors", "Errors")]
    nav = '<nav class="sections">' + " ".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in sections) + "</nav>"
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{esc(title)}</h1>",
    ]
    parts += [f'<p class="description">{esc(p.strip())}</p>' for p in description.split("\n\n") if p.strip()]
    parts += ['<ul class="meta">' + "".join(f"<li>{m}</li>" for m in meta) + "</ul>", nav]
    if notes.strip():
        parts.append(f'<p class="notes">{esc(notes.strip())}</p>')
    ranked = any(s.worst is not None or s.threats for s in standings(rows))
    lead = ("Ranked by each row's <em>lowest worst-case robust accuracy</em> over its threat models, within each "
            'dataset (<a href="#reading">how</a>). ' if ranked else "")
    parts += ['<h2 id="results">Results</h2>',
              f'<p class="explain">{lead}Accuracies in % with their 95 % interval; hover a cell for the count. '
              'Badges are attack-failure indicators (<a href="#flags">what they mean</a>): a flagged row\'s robust '
              "numbers may be overestimates.</p>"]
    if rows:
        parts += [render_controls(rows),
                  '<p class="scroll-hint">Scroll the table sideways for every column; rank and model stay.</p>',
                  render_table(rows, images, plots)]
    else:
        parts.append("<p>No rows.</p>")
    rank_text = (f"<strong>Rank</strong>: {esc(RANK_RULE)}. With several threat models, sort by a <em>worst case</em> "
                 "column to rank by that one threat model. " if ranked
                 else "No row has a bounded threat model, so rows are not ranked. ")
    parts += [
        '<h3 id="reading">Reading the table</h3>',
        f'<p class="explain">{rank_text}Accuracies are percentages of the evaluation examples with their 95 % '
        "Clopper&#8211;Pearson interval (<em>48.8 &#177; 4.5</em>: the larger distance from the value to an end of "
        "the interval; hover a cell for the count and both ends); <em>worst case</em> is the per-example worst "
        f"case over the suite's attacks at one threat model. {esc(FLAG_MARK)} and an orange background mark a row "
        "where an attack-failure indicator fired: its robust numbers may be overestimates (each flag links to "
        f'<a href="#flags">what it means</a>). {esc(MISSING)} marks a metric that could not be computed. Click a '
        "column header to sort; type in <em>Search rows</em> to keep the rows whose labels or flags hold every "
        "word, in <em>Columns matching</em> to keep the metric columns whose name holds the text; open "
        "<em>provenance</em> for what a row's numbers depend on.</p>",
    ]
    parts += [
        '<h2 id="claims">Claims</h2>', render_claims(claims, suite, version),
        '<h2 id="flags">Attack-failure indicators</h2>', render_flag_notes(rows),
        '<h2 id="plots">Plots</h2>', render_plots(plots),
        '<h2 id="images">Task images</h2>', render_images(rows, images, layouts),
        '<h2 id="errors">Errors</h2>', "<ul>" + "".join(errors) + "</ul>" if errors else "<p>None.</p>",
        f"<script>{JS}</script>", "</body>", "</html>", "",
    ]
    return "\n".join(parts)
