"""The page's ranking, suite description, claims' verdicts, flag explanations, labelled image grids and the
compare page, checked against the rows' own numbers and the page's DOM (parsed, no browser)."""
from __future__ import annotations

import ast
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.api.claim import ClaimResult
from bench.claims import ClaimOutcome
from bench.errors import LeaderboardError
from bench.leaderboard import flag_notes, render
from bench.leaderboard.build import build_snapshot, check_files, read_meta
from bench.leaderboard.compare_page import render_compare
from bench.leaderboard.diff import diff_snapshots
from bench.leaderboard.grids import COLUMNS_KEY, ROWS_KEY, grid_layout, png_text
from bench.leaderboard.html import render_index
from bench.leaderboard.ranking import lowest_worst_case, standings
from bench.leaderboard.sources import RunArtifacts
from bench.rows.schema import Accuracy, Row
from bench.runner import flags as runner_flags
from bench.store.cache import ArtifactCache

REPO = Path(__file__).resolve().parents[2]
N = 1000


class Dom(HTMLParser):
    """Elements as (tag, attrs, text) with their text content, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self.open: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("img", "meta", "br", "input", "link"):
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open and self.open[-1]["tag"] != tag:
            self.open.pop()
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        for element in self.open:
            element["text"] += data

    def find(self, tag: str, **attrs: str) -> list[dict]:
        return [e for e in self.elements if e["tag"] == tag
                and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def ids(self) -> set[str]:
        return {e["attrs"]["id"] for e in self.elements if "id" in e["attrs"]}


def _threat(norm: str, eps, targeted: bool = False) -> dict:
    return {"norm": norm, "eps": eps, "eps_display": "inf" if eps is None else f"{eps:g}", "targeted": targeted}


def _acc(k: int) -> dict:
    return Accuracy.of(k, N).model_dump()


def _row(row_dict, defense: str, worst: dict, dataset: str = "digits", seed: int = 0, **kwargs) -> Row:
    """A row whose worst cases are ``worst``: (norm, eps) -> correct of N (None: the cell failed)."""
    data = row_dict(defense, seed, **kwargs)
    data["worst_case"] = [{"threat": _threat(norm, eps), "attacks": ["pgd"],
                           "accuracy": None if k is None else _acc(k)} for (norm, eps), k in worst.items()]
    data["dataset"] = dataset
    data["row_id"] = f"{dataset}/mlp/{defense}/seed{seed}"
    return Row.model_validate(data)


def test_lowest_worst_case_is_over_bounded_threat_models_only(row_dict):
    row = _row(row_dict, "a", {("Linf", 0.1): 400, ("L2", 1.0): 300, ("unbounded", None): 0})
    assert lowest_worst_case(row).accuracy == Accuracy.of(300, N)  # the unbounded 0 % is a sanity check
    failed = _row(row_dict, "b", {("Linf", 0.1): 400, ("L2", 1.0): None})
    assert lowest_worst_case(failed) is None  # the failed threat model could be the lowest
    assert lowest_worst_case(_row(row_dict, "c", {("unbounded", None): 0})) is None


def test_ranks_within_dataset_and_threat_models_with_shared_ties(row_dict):
    rows = [
        _row(row_dict, "a", {("Linf", 0.1): 500, ("L2", 1.0): 300}),  # lowest 30 %
        _row(row_dict, "b", {("Linf", 0.1): 300, ("L2", 1.0): 700}),  # lowest 30 %: tie with a
        _row(row_dict, "c", {("Linf", 0.1): 450, ("L2", 1.0): 450}),  # 45 %: first
        _row(row_dict, "d", {("Linf", 0.1): 900, ("L2", 1.0): None}),  # failed cell: not ranked
        _row(row_dict, "e", {("Linf", 0.1): 100, ("L2", 1.0): 100}, dataset="cifar"),
        _row(row_dict, "f", {("Linf", 0.1): 200, ("L2", 1.0): 250}, dataset="cifar"),
    ]
    got = {s.row_id.split("/")[2]: s for s in standings(rows)}
    assert [(k, got[k].rank) for k in sorted(got, key=lambda k: got[k].position)] == [
        ("f", 1), ("e", 2), ("c", 1), ("a", 2), ("b", 2), ("d", None)]  # cifar first (A-Z), ties share 2
    assert got["a"].worst == Accuracy.of(300, N) and got["a"].threat == "L2 1"
    assert got["b"].threat == "Linf 0.1" and got["c"].group == "digits" and got["c"].group_size == 3
    page = render_index(rows, suite="s", version="v1", created="now")
    order = [e["attrs"]["data-row-id"] for e in Dom(page).find("tr") if "data-row-id" in e["attrs"]]
    assert order == [r.row_id for r in sorted(rows, key=lambda r: got[r.defense].position)]


def test_rows_with_other_threat_models_rank_apart(row_dict):
    rows = [_row(row_dict, "a", {("Linf", 0.1): 500}), _row(row_dict, "b", {("Linf", 0.1): 400}),
            _row(row_dict, "c", {("L2", 1.0): 100})]
    got = {s.row_id.split("/")[2]: s for s in standings(rows)}
    assert (got["a"].rank, got["b"].rank, got["c"].rank) == (1, 2, 1)
    assert got["c"].group == "digits, threat models L2 1" and got["a"].group == "digits, threat models Linf 0.1"


def test_description_and_claims_are_on_the_page(rows):
    claims = [
        ClaimOutcome("p/robust-wins", "robust <b>wins</b>", "P1", ClaimResult(True, {"gap": 0.25}, "fine")),
        ClaimOutcome("p/other", "other", "P2", ClaimResult(False, {"x": float("nan")}, "no")),
        ClaimOutcome("p/third", "third", "", ClaimResult(None, {}, "missing data: x")),
    ]
    text = render_index(rows, suite="quick", version="v1", created="now", claims=claims,
                        description="First <i>para</i>.\n\nSecond para.")
    dom = Dom(text)
    assert [p["text"] for p in dom.find("p", **{"class": "description"})] == ["First <i>para</i>.", "Second para."]
    shown = {e["attrs"]["data-claim"]: e for e in dom.find("tr") if "data-claim" in e["attrs"]}
    assert list(shown) == [c.claim for c in claims]
    for outcome in claims:
        row = shown[outcome.claim]
        assert row["attrs"]["data-status"] == outcome.status and outcome.status in row["text"]
        assert outcome.statement in row["text"]
    assert "gap = 0.25" in shown["p/robust-wins"]["text"] and f"x = {render.MISSING}" in shown["p/other"]["text"]
    summary = next(p["text"] for p in dom.find("p") if "claims hold" in p["text"])
    assert summary.startswith("1 of 3 claims hold, 1 does not hold, 1 not checked")
    none = Dom(render_index(rows, suite="quick", version="v1", created="now"))
    assert any("were not evaluated" in p["text"] for p in none.find("p")) and not none.find("table", id="claims")
    empty = Dom(render_index(rows, suite="quick", version="v1", created="now", claims=[]))
    assert any("No registered claim is about suite quick" in p["text"] for p in empty.find("p"))


def test_flag_badges_explain_and_link_to_the_table(row_dict):
    flags = ["non-monotone-eps:pgd Linf", "attack-loss-not-converged:Linf 0.1", "my-probe-flag"]
    rows = [Row.model_validate(row_dict("standard", 0, flags=tuple(flags))), Row.model_validate(row_dict("pgd-at", 0))]
    dom = Dom(render_index(rows, suite="quick", version="v1", created="now"))
    badges = dom.find("a", **{"class": "flag"}) + dom.find("a", **{"class": "flag unknown"})
    assert sorted(b["text"] for b in badges) == sorted(flags)
    ids = dom.ids()
    for badge in badges:
        name = flag_notes.indicator(badge["text"])
        assert badge["attrs"]["href"] == f"#{flag_notes.anchor(name)}" and flag_notes.anchor(name) in ids
        meaning = flag_notes.explain(badge["text"])
        assert badge["attrs"]["title"] == f"{name}: {meaning if meaning else flag_notes.UNKNOWN}"
    assert next(b for b in badges if b["text"] == "my-probe-flag")["attrs"]["class"] == "flag unknown"
    table = {e["attrs"]["id"]: e["text"] for e in dom.find("tr") if e["attrs"].get("id", "").startswith("flag-")}
    assert set(table) == {flag_notes.anchor(n) for n in [*flag_notes.INDICATORS, "my-probe-flag"]}
    counts = {anchor: int(re.search(r"^\S+?(\d+)", text.replace(" ", "")).group(1)) for anchor, text in table.items()}
    assert counts[flag_notes.anchor("non-monotone-eps")] == 1 and counts[flag_notes.anchor("zero-gradients")] == 0


def _attack(attack: str, eps: float, acc: float, norm: str = "Linf", **meta) -> dict:
    column = f"{attack} {'unbounded' if norm == 'unbounded' else f'{norm} {eps:g}'}"
    return {"status": "ok", "payload": {"robust_accuracy": acc},
            "meta": {"attack": attack, "threat_norm": norm, "threat_eps": eps, "threat": column.split(" ", 1)[1],
                     "column": column, **meta}}


def test_every_indicator_the_runner_and_the_integrity_probe_raise_is_explained():
    records = [
        _attack("pgd", 0.1, 0.5, attack_params={"loss": "ce"}), _attack("pgd", 0.2, 0.6, attack_params={"loss": "ce"}),
        _attack("cw", 0.1, 0.2, attack_params={"loss": "cw"}),
        _attack("pgd-unbounded", float("inf"), 0.5, norm="unbounded"),
        _attack("transfer-pgd", 0.1, 0.1, substitute="mlp trained by standard"),
        _attack("square", 0.1, 0.05, needs_gradients=False),
    ]
    fired = {flag_notes.indicator(f) for f in runner_flags.row_flags(records, [])}
    assert fired == {"non-monotone-eps", "unbounded-attack-failed", "transfer-beats-white-box",
                     "gradient-free-beats-white-box", "ce-vs-margin-loss-gap"}
    from bench.rows.schema import Accuracy, CertifiedResult, Threat

    violated = CertifiedResult(source_id="certify/ibp", label="ibp", classifier="base",
                               threat=Threat(norm="Linf", eps=0.1, eps_display="0.1"), accuracy=Accuracy.of(6, 10),
                               empirical=Accuracy.of(5, 10), violation=True)
    certified = runner_flags.certified_flags([violated, violated.model_copy(update={"violation": False})])
    assert certified == ["certified-exceeds-empirical:ibp Linf 0.1"]
    fired |= {flag_notes.indicator(f) for f in certified}
    probes_doc = (REPO / "docs" / "probes.md").read_text(encoding="utf-8")
    section = probes_doc[probes_doc.index("## Attack-failure indicators"):]
    documented = set(re.findall(r"^\| `([a-z-]+)(?::<[a-z]+>)?` \|", section[:section.index("\n## ")], re.M))
    assert documented == {"zero-gradients", "nan-gradients", "tiny-gradients", "randomized-output",
                          "attack-loss-not-converged"}
    assert fired | documented == set(flag_notes.INDICATORS)


def _png(text: dict[str, str] | None = None, itxt: dict[str, str] | None = None, zip_: bool = False) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value, zip=zip_)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value, zip=zip_)
    buf = io.BytesIO()
    Image.new("L", (10, 22), 128).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


@pytest.mark.parametrize("zip_", [False, True])
def test_png_text_chunks_are_read(zip_):
    png = _png({ROWS_KEY: json.dumps(["original", "inversion"])}, {COLUMNS_KEY: json.dumps(["0", "ü"])}, zip_)
    assert png_text(png)[ROWS_KEY] == '["original", "inversion"]'
    layout = grid_layout(png)
    assert layout.rows == ("original", "inversion") and layout.columns == ("0", "ü")
    assert not grid_layout(_png()) and not grid_layout(b"not a png")
    assert grid_layout(_png({ROWS_KEY: "not json"})).rows == ()
    assert grid_layout(_png({ROWS_KEY: json.dumps([1, 2])})).rows == ()


def _with_grid(rows, tmp_path, png: bytes):
    cache = ArtifactCache(tmp_path / "work" / "cache")
    standard = next(r for r in rows if r.defense == "standard")
    artifacts = {**standard.artifacts, "inversion.inversion.png": cache.put_bytes(png)}
    rows = [r.model_copy(update={"artifacts": artifacts}) if r is standard else r for r in rows]
    return rows, RunArtifacts(cache=cache, workdir=tmp_path / "work"), standard.row_id


def test_grids_are_labelled_with_their_declared_rows(tmp_path, rows):
    labels = ["original", "inversion", "inversion, weight noise once", "effective image"]
    rows, source, row_id = _with_grid(rows, tmp_path, _png({ROWS_KEY: json.dumps(labels)}))
    path = build_snapshot(rows, "quick", "v1", root=tmp_path / "lb", artifacts=source)
    (image,) = read_meta(tmp_path / "lb", "quick", "v1")["images"]
    assert image["grid_rows"] == labels and image["grid_columns"] == [] and image["row_id"] == row_id
    dom = Dom((path / "index.html").read_text(encoding="utf-8"))
    (figure,) = [f for f in dom.find("figure") if f["attrs"].get("data-row-id") == row_id]
    (ol,) = dom.find("ol", **{"class": "grid-rows"})
    assert [li["text"] for li in dom.elements[dom.elements.index(ol) + 1:] if li["tag"] == "li"][:4] == labels
    assert "rows, top to bottom: " + " · ".join(labels) in figure["text"]
    (img,) = [i for i in dom.find("img") if i["attrs"]["src"] == image["file"]]
    assert img["attrs"]["alt"] == "inversion.inversion.png: rows " + ", ".join(labels)


def test_a_grid_without_declared_rows_is_not_labelled(tmp_path, rows):
    rows, source, row_id = _with_grid(rows, tmp_path, _png())
    path = build_snapshot(rows, "quick", "v1", root=tmp_path / "lb", artifacts=source)
    (image,) = read_meta(tmp_path / "lb", "quick", "v1")["images"]
    assert "grid_rows" not in image
    dom = Dom((path / "index.html").read_text(encoding="utf-8"))
    assert dom.find("ol", **{"class": "grid-rows"}) == [] and len(dom.find("img", **{"class": "task"})) == 1


def _changed(rows):
    """rows with the standard row's clean accuracy moved and a flag added to pgd-at, fgsm-at removed, one added."""
    out = []
    for r in rows:
        if r.defense == "standard":
            out.append(r.model_copy(update={"clean": Accuracy.of(r.clean.correct - 900, r.clean.n)}))
        elif r.defense == "pgd-at":
            out.append(r.model_copy(update={"flags": r.flags + ["tiny-gradients"]}))
    new = rows[0].model_copy(update={"row_id": "digits/mlp/trades/seed0", "defense": "trades"})
    return out + [new]


def test_build_writes_a_compare_page_listing_the_diff(tmp_path, rows):
    build_snapshot(rows, "quick", "v1", root=tmp_path, description="d", claims=[])
    newer = _changed(rows)
    path = build_snapshot(newer, "quick", "v2", root=tmp_path, compare_with="v1")
    meta = read_meta(tmp_path, "quick", "v2")
    assert meta["compare"] == {"old": "v1", "file": "compare-v1.html"}
    assert "compare-v1.html" in meta["files"] and check_files(tmp_path, "quick", "v2")["compare-v1.html"] == "ok"
    assert "description" not in meta and "claims" not in meta  # not given for v2
    assert read_meta(tmp_path, "quick", "v1")["description"] == "d" and read_meta(tmp_path, "quick", "v1")["claims"] == []
    index = Dom((path / "index.html").read_text(encoding="utf-8"))
    assert "compare-v1.html" in {a["attrs"].get("href") for a in index.find("a")}
    diff = diff_snapshots(rows, newer)
    dom = Dom((path / "compare-v1.html").read_text(encoding="utf-8"))
    sections = [s["attrs"]["data-row-id"] for s in dom.find("section", **{"class": "change"})]
    assert sections == [c.row_id for c in diff.changed] == ["digits/mlp/pgd-at/seed0", "digits/mlp/standard/seed0"]
    assert [li["attrs"]["data-row-id"] for li in dom.elements if li["tag"] == "li" and "data-row-id" in li["attrs"]] \
        == ["digits/mlp/trades/seed0", "digits/mlp/fgsm-at/seed1"]  # added, then removed
    (clean,) = [tr for tr in dom.find("tr") if tr["attrs"].get("data-column") == "clean"]
    change = next(c for c in diff.changed if c.row_id.endswith("standard/seed0")).metrics[0]
    assert f"{100 * change.delta:+.2f} pp" in clean["text"] and "significant" in clean["text"]
    old_acc = next(r for r in rows if r.defense == "standard").clean
    assert render.format_accuracy(old_acc) in clean["text"]
    (flag,) = [a for a in dom.find("a") if a["attrs"].get("data-indicator") == "tiny-gradients"]
    assert flag["attrs"]["href"] == "index.html#" + flag_notes.anchor("tiny-gradients")
    assert {a["attrs"].get("href") for a in dom.find("a")} >= {"../v1/index.html", "index.html"}
    assert dom.find("p", id="summary")[0]["text"] == "0 unchanged, 1 added, 1 removed, 2 changed (exact)."


def test_compare_with_itself_or_a_missing_version_is_refused(tmp_path, rows):
    with pytest.raises(LeaderboardError, match="cannot compare version 'v1' with itself"):
        build_snapshot(rows, "quick", "v1", root=tmp_path, compare_with="v1")
    with pytest.raises(LeaderboardError, match="version 'v0' of suite 'quick' not found"):
        build_snapshot(rows, "quick", "v1", root=tmp_path, compare_with="v0")
    assert not (tmp_path / "quick" / "v1").exists()


def test_identical_versions_say_so(rows):
    dom = Dom(render_compare(diff_snapshots(rows, rows), suite="quick", old="v1", new="v2"))
    assert dom.find("p", id="identical") and not dom.find("section")
    assert not [a for a in dom.find("a") if "href" in a["attrs"]]  # a standalone page links nowhere


def test_page_modules_need_no_network():
    for name in ("html", "page_assets", "compare_page"):
        source = (REPO / "bench" / "leaderboard" / f"{name}.py").read_text(encoding="utf-8")
        strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not [s for s in strings if re.search(r"https?://|<link|src=\"http|@import", s)], name


def test_the_claims_summary_counts_every_verdict():
    from bench.leaderboard.html import render_claims

    records = [{"claim": f"c{i}", "paper": "", "statement": "s", "status": status, "numbers": {}, "detail": ""}
               for i, status in enumerate(["holds", "inconclusive", "inconclusive", "error", "not checked"])]
    page = render_claims(records, "quick", "2")
    assert "1 of 5 claims hold, 0 do not hold, 2 inconclusive, 1 error, 1 not checked" in page
    assert page.count('class="verdict inconclusive"') == 2 or page.count("inconclusive") >= 3
