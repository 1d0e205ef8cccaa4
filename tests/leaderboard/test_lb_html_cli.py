"""``robarena leaderboard build`` passes the suite's description and its evaluated claims to the page and
writes a compare page against the latest earlier version; ``diff --html`` writes one for any two versions
(the runner's ``load_rows`` faked, as in test_cli.py)."""
from __future__ import annotations

import argparse
import sys
import types
from html.parser import HTMLParser

import pytest

from bench.claims import claims_for, evaluate_claims
from bench.cli.leaderboard_cmd import add_parser
from bench.leaderboard.build import read_meta
from bench.leaderboard.diff import diff_snapshots
from bench.registry import get_registry
from bench.rows.frame import to_frame
from bench.rows.schema import Accuracy
from bench.runner.suite import resolve_suite

SUITE = "p2-inversion-cpu"  # registered by infotransfer, with a description and claims


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="robarena")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


@pytest.fixture
def suite_rows(rows):
    return [r.model_copy(update={"provenance": r.provenance.model_copy(update={"suite": SUITE})}) for r in rows]


@pytest.fixture
def results(monkeypatch, suite_rows):
    """The runner's load_rows returns ``results.rows`` (replace it to build a later version)."""
    module = types.ModuleType("bench.runner.results")
    module.rows = suite_rows
    module.load_rows = lambda workdir, suite_name: module.rows if suite_name == SUITE else []
    monkeypatch.setitem(sys.modules, "bench.runner.results", module)
    return module


class Rows(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.changed: list[str] = []
        self.claims: list[tuple[str, str]] = []
        self.descriptions = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and attrs.get("class") == "change":
            self.changed.append(attrs["data-row-id"])
        elif tag == "tr" and "data-claim" in attrs:
            self.claims.append((attrs["data-claim"], attrs["data-status"]))
        elif tag == "p" and attrs.get("class") == "description":
            self.descriptions += 1


def test_build_passes_description_and_evaluated_claims(tmp_path, results, suite_rows, capsys):
    assert run("leaderboard", "build", SUITE, "--version", "v1", "--root", str(tmp_path)) == 0
    registry = get_registry()
    expected = evaluate_claims(claims_for(registry, SUITE), to_frame(sorted(suite_rows, key=lambda r: r.row_id)))
    assert len(expected) >= 3
    meta = read_meta(tmp_path, SUITE, "v1")
    assert [(c["claim"], c["status"]) for c in meta["claims"]] == [(o.claim, o.status) for o in expected]
    spec = registry.get("suite", SUITE).spec
    assert meta["description"] == f"{spec.description}\n\n{resolve_suite(SUITE, registry).description}"
    page = Rows((tmp_path / SUITE / "v1" / "index.html").read_text(encoding="utf-8"))
    assert page.claims == [(o.claim, o.status) for o in expected] and page.descriptions == 2
    held = sum(o.result.holds is True for o in expected)
    assert f"{held} of {len(expected)} claims hold" in capsys.readouterr().out
    assert "compare" not in meta  # nothing to compare the first version with


def test_build_compares_with_the_latest_version_unless_told_otherwise(tmp_path, results, suite_rows, capsys):
    run("leaderboard", "build", SUITE, "--version", "v1", "--root", str(tmp_path))
    run("leaderboard", "build", SUITE, "--version", "v2", "--root", str(tmp_path), "--compare", "none")
    standard = next(r for r in suite_rows if r.defense == "standard")
    moved = standard.model_copy(update={"clean": Accuracy.of(standard.clean.correct - 1, standard.clean.n)})
    results.rows = [moved if r is standard else r for r in suite_rows]
    capsys.readouterr()
    assert run("leaderboard", "build", SUITE, "--version", "v10", "--root", str(tmp_path)) == 0
    assert "changes since v2 in compare-v2.html" in capsys.readouterr().out
    assert "compare" not in read_meta(tmp_path, SUITE, "v2")
    assert read_meta(tmp_path, SUITE, "v10")["compare"] == {"old": "v2", "file": "compare-v2.html"}  # v10 > v2
    page = Rows((tmp_path / SUITE / "v10" / "compare-v2.html").read_text(encoding="utf-8"))
    assert page.changed == [standard.row_id]
    run("leaderboard", "build", SUITE, "--version", "v11", "--root", str(tmp_path), "--compare", "v1")
    assert read_meta(tmp_path, SUITE, "v11")["compare"]["old"] == "v1"


def test_diff_html_writes_the_compare_page(tmp_path, results, suite_rows, capsys):
    run("leaderboard", "build", SUITE, "--version", "v1", "--root", str(tmp_path))
    pgd_at = next(r for r in suite_rows if r.defense == "pgd-at")
    results.rows = [r.model_copy(update={"flags": []}) if r is pgd_at else r for r in suite_rows]
    run("leaderboard", "build", SUITE, "--version", "v2", "--root", str(tmp_path), "--compare", "none")
    out = tmp_path / "diff.html"
    assert run("leaderboard", "diff", SUITE, "v1", "v2", "--root", str(tmp_path), "--html", str(out)) == 1
    assert f"wrote the compare page to {out}" in capsys.readouterr().out
    expected = diff_snapshots(suite_rows, results.rows)
    assert Rows(out.read_text(encoding="utf-8")).changed == [c.row_id for c in expected.changed] == [pgd_at.row_id]
