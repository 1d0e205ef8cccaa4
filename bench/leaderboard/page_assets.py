"""The CSS and JavaScript of the snapshot pages (``index.html`` and the compare page), inlined by
:mod:`bench.leaderboard.html`: the pages work offline, opened from disk, with no CDN and no
vendored library. Hand-written: sorting, filtering and hiding columns of one table is a few lines.
"""
from __future__ import annotations

CSS = """
:root { --lb-border: #d7d7d7; --lb-head: #f2f2f2; --lb-flagged: #fff4e0; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #1b1b1b;
       line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.3em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; }
.description { max-width: 60em; margin: 0.3em 0 0.6em; }
.meta { color: #555; padding-left: 1.2em; } .meta li { margin: 0.1em 0; }
nav.sections { margin: 0.6em 0; } nav.sections a { margin-right: 0.8em; white-space: nowrap; }
.notes { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; }
.explain { max-width: 60em; }
.controls { display: flex; flex-wrap: wrap; gap: 0.4em 1em; align-items: center; margin: 0.6em 0; }
.controls label { white-space: nowrap; }
.controls input[type="search"] { min-width: 14em; padding: 0.2em 0.3em; }
.controls fieldset { border: 1px solid var(--lb-border); padding: 0.1em 0.5em; margin: 0; }
.controls fieldset legend { font-size: 0.85em; color: #555; }
#lb-count { color: #555; font-size: 0.9em; }
.scroll-hint { display: none; color: #666; font-size: 0.85em; margin: 0.2em 0; }
.table-wrap { overflow: auto; max-height: 85vh; border: 1px solid var(--lb-border); max-width: max-content; }
.plain-wrap { overflow-x: auto; }
table.leaderboard { border-collapse: separate; border-spacing: 0; font-size: 0.85em; }
table.leaderboard th, table.leaderboard td { border-right: 1px solid var(--lb-border);
  border-bottom: 1px solid var(--lb-border); padding: 0.25em 0.5em; vertical-align: top; background: #fff; }
table.leaderboard th { background: var(--lb-head); position: sticky; top: 0; z-index: 2; text-align: left; }
table.leaderboard th button { all: unset; cursor: pointer; display: block; }
table.leaderboard th button:focus-visible { outline: 2px solid #1565c0; }
table.leaderboard th .group { display: block; font-size: 0.75em; color: #666; font-weight: normal; }
table.leaderboard th[aria-sort="ascending"] .name::after { content: " \\25B2"; }
table.leaderboard th[aria-sort="descending"] .name::after { content: " \\25BC"; }
table.leaderboard .sticky-1 { position: sticky; left: 0; z-index: 1; }
table.leaderboard .sticky-2 { position: sticky; left: var(--lb-first-width, 2.8em); z-index: 1;
  box-shadow: 3px 0 3px -2px rgba(0, 0, 0, 0.25); }
table.leaderboard th.sticky-1, table.leaderboard th.sticky-2 { z-index: 3; }
table.leaderboard tr[hidden], table.leaderboard .col-hidden { display: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.rank { text-align: right; font-weight: 600; }
td.missing { color: #999; text-align: center; }
td.label { white-space: nowrap; }
tr.flagged td { background: var(--lb-flagged); }
tr.has-errors td.label { border-left: 3px solid #c62828; }
a.flag { display: inline-block; white-space: nowrap; background: #e65100; color: #fff; border-radius: 3px; padding: 0 0.3em;
         margin: 0.1em; font-size: 0.85em; text-decoration: none; }
a.flag:hover, a.flag:focus { background: #bf360c; text-decoration: underline; }
a.flag.unknown { background: #6d4c41; }
.error-count { color: #c62828; white-space: nowrap; }
details[open] { width: min(34em, 85vw); } details summary { white-space: nowrap; cursor: pointer; }
details dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.1em 0.8em; margin: 0.3em 0; }
details dt { font-weight: 600; } details dd { margin: 0; overflow-wrap: anywhere; }
details ul { margin: 0; padding-left: 1.2em; }
table.plain { border-collapse: collapse; font-size: 0.9em; max-width: 72em; }
table.plain th, table.plain td { border: 1px solid var(--lb-border); padding: 0.25em 0.5em; vertical-align: top;
  text-align: left; }
table.plain th { background: var(--lb-head); }
table.plain tr:target td { background: #fff59d; }
table.plain td.num { text-align: right; }
.verdict { display: inline-block; border-radius: 3px; padding: 0 0.35em; color: #fff; white-space: nowrap; }
.verdict.holds { background: #2e7d32; } .verdict.fails { background: #c62828; }
.verdict.unchecked { background: #757575; } .verdict.inconclusive { background: #8d6e63; }
.significant { font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 660px; min-width: 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figure a { display: block; min-width: 0; } figure img { display: block; }
img.task { image-rendering: pixelated; }
.grid { display: flex; align-items: stretch; }
.grid-rows { display: flex; flex-direction: column; list-style: none; margin: 0; padding: 0 0.4em 0 0;
             font-size: 0.75em; color: #333; }
.grid-rows li { flex: 1 1 0; display: flex; align-items: center; justify-content: flex-end; text-align: right;
                min-height: 0; }
figcaption { font-size: 0.85em; color: #333; } figcaption code { color: #666; }
@media (max-width: 700px) {
  body { margin: 0.6em; }
  .scroll-hint { display: block; }
  table.leaderboard { font-size: 0.8em; }
  .controls input[type="search"] { min-width: 0; flex: 1 1 auto; }
  .controls label.search { flex: 1 1 100%; display: flex; gap: 0.4em; }
}
"""

# Numbers sort numerically (first click: largest first; the rank: 1 first), text naturally (first click: A-Z);
# missing values always sort last; Array.prototype.sort is stable, so ties keep their order.
# Filters hide rows (search terms all found in a row's labels and flags; dataset; flagged or
# not) and columns (metric groups; a column-name filter); the count says how many rows show.
JS = """
(function () {
  "use strict";
  // Task images of small datasets (8x8 digits) are tiny: enlarge by a whole factor, pixels kept sharp.
  function enlarge(img) {
    if (img.naturalHeight > 0 && img.naturalHeight < 160) {
      img.style.width = (img.naturalWidth * Math.ceil(160 / img.naturalHeight)) + "px";
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("img.task"), function (img) {
    if (img.complete) { enlarge(img); } else { img.addEventListener("load", function () { enlarge(img); }); }
  });

  var table = document.getElementById("leaderboard");
  if (!table) { return; }
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var rows = Array.prototype.slice.call(body.rows);
  function key(row, index) { return row.cells[index].getAttribute("data-sort"); }
  function sortBy(th) {
    var index = th.cellIndex, numeric = th.getAttribute("data-type") === "number";
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-first");  // e.g. rank: 1 first
    var ascending = current ? current !== "ascending" : (first ? first === "ascending" : !numeric);
    var sign = ascending ? 1 : -1;
    var order = Array.prototype.slice.call(body.rows);
    order.sort(function (a, b) {
      var x = key(a, index), y = key(b, index);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      if (numeric) { return sign * (parseFloat(x) - parseFloat(y)); }
      return sign * x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
    });
    order.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  for (var i = 0; i < headers.length; i++) {
    var button = headers[i].querySelector("button");
    if (button) {
      button.addEventListener("click", (function (th) { return function () { sortBy(th); }; })(headers[i]));
    }
  }

  var search = document.getElementById("lb-search");
  var dataset = document.getElementById("lb-dataset");
  var flagged = document.getElementById("lb-flagged");
  var columns = document.getElementById("lb-columns");
  var count = document.getElementById("lb-count");
  function filterRows() {
    var terms = search ? search.value.toLowerCase().split(/\\s+/).filter(Boolean) : [];
    var wanted = dataset ? dataset.value : "";
    var flag = flagged ? flagged.value : "";
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search");
      var ok = terms.every(function (t) { return text.indexOf(t) >= 0; })
        && (!wanted || row.getAttribute("data-dataset") === wanted)
        && (!flag || (flag === "flagged") === (row.getAttribute("data-flagged") === "1"));
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    if (count) { count.textContent = shown + " of " + rows.length + " rows shown"; }
  }
  function filterColumns() {
    var text = columns ? columns.value.toLowerCase().trim() : "";
    var groups = {};
    Array.prototype.forEach.call(document.querySelectorAll("input[data-group]"), function (box) {
      groups[box.getAttribute("data-group")] = box.checked;
    });
    for (var i = 0; i < headers.length; i++) {
      var th = headers[i], group = th.getAttribute("data-group");
      if (!group) { continue; }
      var name = th.getAttribute("data-column").toLowerCase();
      var hide = groups[group] === false || (text !== "" && name.indexOf(text) < 0);
      th.classList.toggle("col-hidden", hide);
      rows.forEach(function (row) { row.cells[i].classList.toggle("col-hidden", hide); });
    }
  }
  [search, columns].forEach(function (el) { if (el) { el.addEventListener("input", el === columns ? filterColumns : filterRows); } });
  [dataset, flagged].forEach(function (el) { if (el) { el.addEventListener("change", filterRows); } });
  Array.prototype.forEach.call(document.querySelectorAll("input[data-group]"), function (box) {
    box.addEventListener("change", filterColumns);
  });
  filterRows();
  filterColumns();

  // The second sticky column starts where the first ends.
  function stick() {
    var first = table.querySelector("th.sticky-1");
    if (first) { table.style.setProperty("--lb-first-width", first.getBoundingClientRect().width + "px"); }
  }
  stick();
  window.addEventListener("resize", stick);

})();
"""
