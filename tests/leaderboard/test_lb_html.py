"""The snapshot's index.html and the files beside it: escaping, every row and column, provenance,
plots and task images written from a cache, meta.json listing every file with its sha256."""
from __future__ import annotations

import hashlib
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from bench.errors import LeaderboardError
from bench.leaderboard import render
from bench.leaderboard.build import build_snapshot, check_files, list_versions, load_snapshot, read_meta
from bench.leaderboard.html import render_index
from bench.leaderboard.sources import RunArtifacts
from bench.store.cache import ArtifactCache

SUITE = "quick"
CREATED = "2024-06-02T08:00:00Z"
REPO = Path(__file__).resolve().parents[2]


class Page(HTMLParser):
    """Collects the table (header columns, rows with their cells) and every img/a of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.columns: list[str] = []
        self.rows: list[dict] = []
        self.imgs: list[dict] = []
        self.links: list[str] = []
        self.stack: list[str] = []
        self._cell: dict | None = None
        self.table: str | None = None  # the id of the table being read (cells count in #leaderboard only)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in ("img", "meta", "br", "link", "input"):
            self.stack.append(tag)
        if tag == "table":
            self.table = attrs.get("id")
        elif tag == "th" and "data-column" in attrs:
            self.columns.append(attrs["data-column"])
        elif tag == "tr" and "data-row-id" in attrs:
            self.rows.append({"id": attrs["data-row-id"], "class": attrs.get("class", ""), "cells": []})
        elif tag == "td" and self.rows and self.table == "leaderboard":
            self._cell = {"sort": attrs.get("data-sort"), "title": attrs.get("title"), "text": ""}
            self.rows[-1]["cells"].append(self._cell)
        elif tag == "img":
            self.imgs.append(attrs)
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()
        if tag == "table":
            self.table = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def _page(rows, **kwargs) -> str:
    return render_index(rows, suite=SUITE, version="v1", created=CREATED, **kwargs)


def _cells(page: Page, row_id: str) -> dict[str, dict]:
    """A row's cells by column name."""
    shown = next(r for r in page.rows if r["id"] == row_id)
    assert len(shown["cells"]) == len(page.columns)
    return dict(zip(page.columns, shown["cells"]))


def test_every_row_and_column_is_on_the_page(rows):
    page = Page(_page(rows))
    assert not page.stack  # every element closed
    metrics = ["clean", "robust[pgd Linf 0.1]", "robust[fgsm Linf 0.1]", "ensemble[Linf 0.1]",
               "probe[margin.mean]", "task[transfer.loss]"]
    assert page.columns == ["rank", "lowest worst case", "model", "defense", "dataset", "seed", "flags",
                            "details"] + metrics
    # the default order is the rank: pgd-at (worst case 60 %), standard (45.67 %), then fgsm-at, whose
    # PGD cell failed (its worst case is unknown, so it is not ranked)
    assert [r["id"] for r in page.rows] == ["digits/mlp/pgd-at/seed0", "digits/mlp/standard/seed0",
                                            "digits/mlp/fgsm-at/seed1"]
    by_id = {r.row_id: r for r in rows}
    for shown in page.rows:
        row, cells = by_id[shown["id"]], _cells(page, shown["id"])
        values = row.metric_columns()
        for column in metrics:
            value, cell = values[column], cells[column]
            if value is None:
                assert cell["sort"] == "" and cell["text"] == render.MISSING
            else:
                assert float(cell["sort"]) == value  # the exact number sorts
                acc = row.accuracies().get(column)
                if acc is None:
                    assert cell["text"] == f"{value:.4g}"
                else:  # the percentage with the half-width of the stored 95 % interval, the count in the tooltip
                    half = 100 * max(acc.value - acc.low, acc.high - acc.value)
                    assert cell["text"] == f"{100 * value:.2f} ± {half:.2f}"
                    assert cell["title"].startswith(f"{acc.correct}/{acc.n} correct, 95 % Clopper-Pearson")
        assert cells["defense"]["text"] == row.defense and cells["seed"]["sort"] == str(row.seed)
    standard = _cells(page, "digits/mlp/standard/seed0")
    assert standard["clean"]["text"] == "81.23 ± 0.78" and standard["robust[pgd Linf 0.1]"]["text"] == "45.67 ± 0.98"


def test_rank_and_lowest_worst_case_come_from_the_rows(rows):
    page = Page(_page(rows))
    by_id = {r.row_id: r for r in rows}
    ranked = ["digits/mlp/pgd-at/seed0", "digits/mlp/standard/seed0"]
    for position, row_id in enumerate(ranked):
        cells = _cells(page, row_id)
        (worst,) = by_id[row_id].worst_case  # one threat model: its worst case is the lowest
        assert cells["rank"]["text"] == str(position + 1) and cells["rank"]["sort"] == str(position)
        assert cells["rank"]["title"] == f"rank {position + 1} of 2 in digits"
        assert float(cells["lowest worst case"]["sort"]) == worst.accuracy.value
        assert cells["lowest worst case"]["text"] == render.format_accuracy(worst.accuracy)
        assert cells["lowest worst case"]["title"] == (render.describe_accuracy(worst.accuracy)
                                                       + "; lowest at Linf 0.1, of 1 bounded threat model")
    failed = _cells(page, "digits/mlp/fgsm-at/seed1")
    assert failed["rank"]["text"] == render.MISSING and failed["rank"]["title"].startswith("not ranked")
    assert failed["lowest worst case"]["sort"] == ""


def test_flagged_rows_are_marked_with_their_flags(rows):
    page = Page(_page(rows))
    flagged = next(r for r in page.rows if r["id"] == "digits/mlp/pgd-at/seed0")
    assert "flagged" in flagged["class"].split()
    cells = _cells(page, "digits/mlp/pgd-at/seed0")
    assert cells["model"]["text"] == f"mlp {render.FLAG_MARK}"
    assert cells["flags"]["text"] == "square_beats_whitebox"
    failed = next(r for r in page.rows if r["id"] == "digits/mlp/fgsm-at/seed1")
    assert "has-errors" in failed["class"].split() and "flagged" not in failed["class"].split()
    assert _cells(page, failed["id"])["flags"]["text"] == "1 error"
    plain = next(r for r in page.rows if r["id"] == "digits/mlp/standard/seed0")
    assert plain["class"] == "" and _cells(page, plain["id"])["model"]["text"] == "mlp"


def test_provenance_is_in_each_rows_details_and_tooltip(rows):
    page = Page(_page(rows))
    by_id = {r.row_id: r for r in rows}
    for shown in page.rows:
        prov = by_id[shown["id"]].provenance
        cells = _cells(page, shown["id"])
        details = cells["details"]["text"]
        assert details.startswith("provenance")
        for name, value in prov.model_dump().items():
            assert name in details
            for part in (value.items() if isinstance(value, dict) else [value]):
                text = f"{part[0]}: {part[1]}" if isinstance(part, tuple) else str(part)
                assert text in details
        assert prov.config_hash in cells["model"]["title"] and prov.date in cells["model"]["title"]


def test_all_text_is_escaped(row_dict):
    evil = "<script>alert('x')</script>"
    row = row_dict("standard")
    row.update(model=evil, defense='a"b&c', row_id="digits/x/y/seed0")
    row["attacks"][0]["label"] = "<b>pgd</b>"
    row["worst_case"][0]["attacks"] = ["<b>pgd</b>", "fgsm"]
    row["flags"] = ["<img src=x onerror=alert(1)>"]
    row["errors"] = ["cell <i>x</i> failed"]
    row["provenance"]["plugins"] = {"<dist>": "1.0 & more"}
    text = _page([row_to_model(row)], notes="<em>notes</em> & more")
    for raw in (evil, "<b>pgd</b>", "<img src=x", "<i>x</i>", "<em>notes</em>", "<dist>", 'a"b&c'):
        assert raw not in text
    for escaped in ("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", "&lt;b&gt;pgd&lt;/b&gt; Linf 0.1",
                    "&lt;img src=x onerror=alert(1)&gt;", "a&quot;b&amp;c", "&lt;em&gt;notes&lt;/em&gt; &amp; more",
                    "&lt;dist&gt;: 1.0 &amp; more"):
        assert escaped in text
    page = Page(text)
    assert _cells(page, "digits/x/y/seed0")["model"]["text"].startswith(evil)  # the parser decodes back to the label
    assert text.count("<script>") == 1  # only the page's own sorting script


def row_to_model(data):
    from bench.rows.io import validate_row

    return validate_row(data)


def test_page_needs_no_network(rows):
    text = _page(rows)
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert "src=" not in text.replace('<img src="', "")  # no external script or frame sources


def _png(color: float, size=(2.0, 1.0)) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=50)
    fig.add_subplot().imshow(np.full((4, 8), color), cmap="gray", vmin=0, vmax=1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


@pytest.fixture
def run_artifacts(tmp_path, rows):
    """A cache holding a PNG grid and a loss curve for the standard row, and margin histograms."""
    cache = ArtifactCache(tmp_path / "work" / "cache")
    grid = _png(0.25)
    standard = next(r for r in rows if r.defense == "standard")
    artifacts = {**standard.artifacts, "inversion.grid": cache.put_bytes(grid),
                 "inversion.loss_curve": cache.put_arrays({"loss_curve": np.array([3.0, 2.0, 1.0])})}
    rows = [r.model_copy(update={"artifacts": artifacts}) if r is standard else r for r in rows]
    arrays = {standard.row_id: {"margin": {"hist_edges": np.linspace(-1, 1, 5),
                                           "test_hist_counts": np.array([1, 2, 3, 4])}}}
    return rows, RunArtifacts(probe_arrays=arrays, cache=cache, workdir=tmp_path / "work"), grid


def test_snapshot_holds_page_plots_images_and_checksums(tmp_path, run_artifacts):
    rows, source, grid = run_artifacts
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path / "lb", created=CREATED, artifacts=source, notes="n")
    meta = read_meta(tmp_path / "lb", SUITE, "v1")
    on_disk = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert sorted(meta["files"]) == [f for f in on_disk if f != "meta.json"]
    for name, digest in meta["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    assert set(check_files(tmp_path / "lb", SUITE, "v1").values()) == {"ok"}
    assert (path / "rows.tex").read_text(encoding="utf-8") == render.to_latex(rows)
    kinds = sorted(f["kind"] for f in meta["figures"])
    assert kinds == ["curve", "eps-curve", "eps-curve", "eps-curve", "histogram"]
    (image,) = meta["images"]
    assert image["name"] == "inversion.grid" and image["row_id"] == "digits/mlp/standard/seed0"
    assert (path / image["file"]).read_bytes() == grid and image["sha256"] == hashlib.sha256(grid).hexdigest()
    page = Page((path / "index.html").read_text(encoding="utf-8"))
    srcs = [img["src"] for img in page.imgs]
    assert sorted(srcs) == sorted([f["file"] for f in meta["figures"]] + [image["file"]])
    assert all((path / src).is_file() for src in srcs)
    for link in ("rows.jsonl", "rows.csv", "rows.tex", "README.md", "meta.json"):
        assert link in page.links
    assert load_snapshot(tmp_path / "lb", SUITE, "v1") == sorted(rows, key=lambda r: r.row_id)
    (path / meta["figures"][0]["file"]).write_bytes(b"changed")
    assert check_files(tmp_path / "lb", SUITE, "v1")[meta["figures"][0]["file"]] == "modified"


def test_rebuilding_the_same_rows_gives_identical_files(tmp_path, run_artifacts):
    rows, source, _ = run_artifacts
    build_snapshot(rows, SUITE, "v1", root=tmp_path, created=CREATED, artifacts=source)
    build_snapshot(rows, SUITE, "v2", root=tmp_path, created=CREATED, artifacts=source)
    a, b = read_meta(tmp_path, SUITE, "v1"), read_meta(tmp_path, SUITE, "v2")
    differ = sorted(name for name in a["files"] if a["files"][name] != b["files"].get(name))
    assert differ == ["README.md", "index.html"]  # they name the version; every plot is byte-identical


def test_a_lost_artifact_is_a_clear_error_and_leaves_nothing(tmp_path, run_artifacts):
    rows, source, grid = run_artifacts
    source.cache.discard(hashlib.sha256(grid).hexdigest())
    with pytest.raises(LeaderboardError, match=r"artifact 'inversion.grid' of row 'digits/mlp/standard/seed0'.*"
                                               r"re-run the suite"):
        build_snapshot(rows, SUITE, "v1", root=tmp_path / "lb", artifacts=source)
    assert list_versions(tmp_path / "lb", SUITE) == [] and list((tmp_path / "lb" / SUITE).iterdir()) == []


def test_published_snapshot_without_a_page_still_reads():
    root = REPO / "leaderboard"
    meta = json.loads((root / "quick" / "1" / "meta.json").read_text())
    assert "files" not in meta  # built before the page existed; never rewritten
    assert check_files(root, "quick", "1") == {}
    assert len(load_snapshot(root, "quick", "1")) == meta["row_count"]
