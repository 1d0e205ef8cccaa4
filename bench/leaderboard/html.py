"""The snapshot's ``index.html``: one static page, no server, no network.

The page holds a sortable table (labels, clean, robust per attack, worst case per threat model,
probe and task columns; accuracies as percentages with their 95 % interval, the count and the
interval's ends in the cell's tooltip and ``data-*`` attributes), flagged rows marked with their flags,
each row's provenance in a ``<details>`` expansion (and a summary as the label's tooltip),
the plots (``plots/*.png``) and the task images (``artifacts/*.png``), linked relatively so
the snapshot directory can be opened from disk or served as is. CSS and JavaScript are
inline; every piece of text (labels come from user suites) goes through :func:`html.escape`.
"""
from __future__ import annotations

import html
from typing import Iterable, Optional, Sequence

from bench.rows.frame import is_accuracy, metric_column_names, metric_group
from bench.leaderboard.plots import ArtifactImage, PlotSpec, row_labels
from bench.leaderboard.render import FLAG_MARK, MISSING, describe_accuracy, format_accuracy, format_value
from bench.rows.schema import Provenance, Row

PLOT_SECTIONS = (
    ("eps-curve", "Robust accuracy vs eps"),
    ("histogram", "Histograms"),
    ("per-layer", "Per-layer curves"),
    ("curve", "Curves"),
    ("column-family", "Column families"),
)
GROUP_NAMES = {"clean": "", "robust": "robust", "ensemble": "worst case", "probe": "probe", "task": "task"}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; } h3 { font-size: 1.05em; }
.meta { color: #555; } .meta li { margin: 0.1em 0; }
.notes { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; }
.table-wrap { overflow-x: auto; }
table.leaderboard { border-collapse: collapse; font-size: 0.85em; }
table.leaderboard th, table.leaderboard td { border: 1px solid #ddd; padding: 0.25em 0.5em; vertical-align: top; }
table.leaderboard th { background: #f2f2f2; position: sticky; top: 0; }
table.leaderboard th button { all: unset; cursor: pointer; display: block; }
table.leaderboard th .group { display: block; font-size: 0.75em; color: #666; font-weight: normal; }
table.leaderboard th[aria-sort="ascending"] .name::after { content: " \\25B2"; }
table.leaderboard th[aria-sort="descending"] .name::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.missing { color: #999; text-align: center; }
tr.flagged { background: #fff4e0; }
tr.has-errors td.label { border-left: 3px solid #c62828; }
.flag { display: inline-block; background: #e65100; color: #fff; border-radius: 3px; padding: 0 0.3em;
        margin: 0.1em; font-size: 0.85em; }
.error-count { color: #c62828; }
details[open] { width: 34em; }
details dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.1em 0.8em; margin: 0.3em 0; }
details dt { font-weight: 600; } details dd { margin: 0; overflow-wrap: anywhere; }
details ul { margin: 0; padding-left: 1.2em; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 660px; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
img.task { image-rendering: pixelated; }
figcaption { font-size: 0.85em; color: #333; } figcaption code { color: #666; }
"""

# Hand-written on purpose: the page must work offline (opened from disk, no CDN), and no
# JavaScript table library is vendored in this repository; sorting one table is a few lines.
# Numbers sort numerically (first click: largest first), text naturally (first click: A-Z);
# missing values always sort last. Array.prototype.sort is stable, so ties keep their order.
JS = """
(function () {
  "use strict";
  var table = document.getElementById("leaderboard");
  if (!table) { return; }
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  function key(row, index) { return row.cells[index].getAttribute("data-sort"); }
  function sortBy(th) {
    var index = th.cellIndex, numeric = th.getAttribute("data-type") === "number";
    var current = th.getAttribute("aria-sort");
    var ascending = current ? current !== "ascending" : !numeric;
    var sign = ascending ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, index), y = key(b, index);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      if (numeric) { return sign * (parseFloat(x) - parseFloat(y)); }
      return sign * x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  // Task images of small datasets (8x8 digits) are tiny: enlarge by a whole factor, pixels kept sharp.
  function enlarge(img) {
    if (img.naturalHeight > 0 && img.naturalHeight < 160) {
      img.style.width = (img.naturalWidth * Math.ceil(160 / img.naturalHeight)) + "px";
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("img.task"), function (img) {
    if (img.complete) { enlarge(img); } else { img.addEventListener("load", function () { enlarge(img); }); }
  });
  for (var i = 0; i < headers.length; i++) {
    var button = headers[i].querySelector("button");
    if (button) {
      button.addEventListener("click", (function (th) { return function () { sortBy(th); }; })(headers[i]));
    }
  }
})();
"""


def esc(value: object) -> str:
    """Text or attribute value, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def _header(name: str) -> tuple[str, str, str]:
    """Column name -> (group caption, name, data-type)."""
    group = metric_group(name)
    inner = name[len(group) + 1:-1] if name.endswith("]") and "[" in name else name
    unit = " (%)" if is_accuracy(name) else ""
    return GROUP_NAMES.get(group, group), inner + unit, "number"


def _th(caption: str, name: str, kind: str, column: str, sortable: bool = True) -> str:
    group = f'<span class="group">{esc(caption)}</span>' if caption else '<span class="group">&#160;</span>'
    inner = f'{group}<span class="name">{esc(name)}</span>'
    content = f'<button type="button" title="sort by {esc(column)}">{inner}</button>' if sortable else inner
    return f'<th scope="col" data-type="{kind}" data-column="{esc(column)}">{content}</th>'


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


def render_table(rows: Sequence[Row], images: Sequence[ArtifactImage] = (), plots: Sequence[PlotSpec] = ()) -> str:
    """The ``<table id="leaderboard">``: one ``<tr>`` per row (labels, flags, provenance, then one sortable
    column per metric)."""
    metrics = metric_column_names(rows)
    head = [_th("", "model", "text", "model"), _th("", "defense", "text", "defense"),
            _th("", "dataset", "text", "dataset"), _th("", "seed", "number", "seed")]
    head += [_th("", "flags", "text", "flags"), _th("", "details", "text", "details", sortable=False)]
    head += [_th(*_header(name), name) for name in metrics]
    lines = []
    for row in rows:
        values = row.metric_columns()
        classes = " ".join(c for c, on in (("flagged", row.flags), ("has-errors", row.errors)) if on)
        mark = f" {FLAG_MARK}" if row.flags else ""
        cells = [
            f'<td class="label" data-sort="{esc(row.model)}" title="{esc(_provenance_summary(row.provenance))}">'
            f"{esc(row.model)}{esc(mark)}</td>",
            f'<td data-sort="{esc(row.defense)}">{esc(row.defense)}</td>',
            f'<td data-sort="{esc(row.dataset)}">{esc(row.dataset)}</td>',
            f'<td class="num" data-sort="{row.seed}">{row.seed}</td>',
        ]
        flags = "".join(f'<span class="flag">{esc(f)}</span>' for f in row.flags)
        if row.errors:
            flags += f'<span class="error-count">{len(row.errors)} error{"" if len(row.errors) == 1 else "s"}</span>'
        cells.append(f'<td data-sort="{esc(";".join(row.flags))}">{flags}</td>')
        own_images = [img for img in images if img.row_id == row.row_id]
        own_plots = [p for p in plots if row.row_id in p.rows]
        cells.append(f"<td>{_details(row, own_images, own_plots)}</td>")
        accuracies = row.accuracies()
        for name in metrics:
            value = values.get(name)
            acc = accuracies.get(name) if is_accuracy(name) else None
            if value is None:
                cells.append(f'<td class="missing" data-sort="">{esc(MISSING)}</td>')
            elif acc is not None:  # the value sorts; the interval is shown, the count in the tooltip
                cells.append(f'<td class="num" data-sort="{value!r}" data-correct="{acc.correct}" data-n="{acc.n}" '
                             f'data-low="{acc.low!r}" data-high="{acc.high!r}" title="{esc(describe_accuracy(acc))}">'
                             f"{esc(format_accuracy(acc))}</td>")
            else:
                cells.append(f'<td class="num" data-sort="{value!r}">{esc(format_value(name, value))}</td>')
        lines.append(f'<tr data-row-id="{esc(row.row_id)}"' + (f' class="{classes}"' if classes else "") + ">"
                     + "".join(cells) + "</tr>")
    return ('<div class="table-wrap"><table id="leaderboard" class="leaderboard">\n<thead><tr>' + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody></table></div>")


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


def render_images(rows: Sequence[Row], images: Sequence[ArtifactImage]) -> str:
    if not images:
        return "<p>No task images.</p>"
    labels = row_labels(rows)
    by_name: dict[str, list[ArtifactImage]] = {}
    for img in images:  # one section per artifact ('<task>.<name>'): the rows side by side
        by_name.setdefault(img.name, []).append(img)
    parts = []
    for name, chosen in sorted(by_name.items()):
        parts.append(f"<h3>{esc(name)}</h3>\n<div class=\"figures\">" + "".join(
            f'<figure><a href="{esc(img.file)}"><img class="task" src="{esc(img.file)}" alt="{esc(img.name)}"></a>'
            f"<figcaption>{esc(labels.get(img.row_id, img.row_id))}</figcaption></figure>" for img in chosen) + "</div>")
    return "\n".join(parts)


def render_index(rows: Iterable[Row], *, suite: str, version: str, created: str, notes: str = "",
                 plots: Sequence[PlotSpec] = (), images: Sequence[ArtifactImage] = (),
                 downloads: Sequence[str] = (), schema_version: Optional[str] = None) -> str:
    """The complete ``index.html`` of a snapshot (deterministic for its inputs)."""
    rows = sorted(rows, key=lambda r: r.row_id)
    flagged = sum(1 for r in rows if r.flags)
    failed = sum(1 for r in rows if r.errors)
    title = f"Leaderboard: {suite} {version}"
    links = " · ".join(f'<a href="{esc(f)}">{esc(f)}</a>' for f in downloads)
    meta = [f"Suite <code>{esc(suite)}</code>, version <code>{esc(version)}</code>, created {esc(created)}",
            f"{len(rows)} row{'' if len(rows) == 1 else 's'} ({flagged} flagged, {failed} with errors)"]
    if schema_version:
        meta.append(f"Row schema version {esc(schema_version)}")
    if links:
        meta.append(f"Data: {links}")
    errors = [f"<li><code>{esc(r.row_id)}</code>: {esc(e)}</li>" for r in rows for e in r.errors]
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{esc(title)}</h1>", '<ul class="meta">' + "".join(f"<li>{m}</li>" for m in meta) + "</ul>",
    ]
    if notes.strip():
        parts.append(f'<p class="notes">{esc(notes.strip())}</p>')
    parts += [
        "<h2>Results</h2>",
        "<p>Accuracies are percentages of the evaluation examples with their 95 % Clopper&#8211;Pearson interval "
        "(<em>48.8 &#177; 4.5</em>: the larger distance from the value to an end of the interval; hover a cell for "
        "the count and both ends); <em>worst case</em> is the per-example worst "
        f"case over the suite's attacks at one threat model. {esc(FLAG_MARK)} and an orange background mark a row "
        "where an attack-failure indicator fired (its flags are listed): its robust numbers may be overestimates. "
        f"{esc(MISSING)} marks a metric that could not be computed. Click a column header to sort; open "
        "<em>provenance</em> for what a row's numbers depend on.</p>",
        render_table(rows, images, plots) if rows else "<p>No rows.</p>",
        '<h2 id="plots">Plots</h2>', render_plots(plots),
        '<h2 id="images">Task images</h2>', render_images(rows, images),
        '<h2 id="errors">Errors</h2>', "<ul>" + "".join(errors) + "</ul>" if errors else "<p>None.</p>",
        f"<script>{JS}</script>", "</body>", "</html>", "",
    ]
    return "\n".join(parts)
