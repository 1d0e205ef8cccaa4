"""The ``leaderboard`` sub-commands through argparse, with the runner's ``load_rows`` faked."""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import LeaderboardError
from bench.leaderboard.build import build_snapshot, list_versions, load_snapshot
from bench.cli.leaderboard_cmd import add_parser
from bench.rows.schema import Accuracy


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="robarena")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


@pytest.fixture
def fake_results(monkeypatch, rows):
    """Install a stand-in for ``bench.runner.results`` whose load_rows returns the fixture rows."""
    calls = []

    def load_rows(workdir, suite_name):
        calls.append((workdir, suite_name))
        return rows if suite_name in ("quick", "classics/quick") else []

    module = types.ModuleType("bench.runner.results")
    module.load_rows = load_rows
    monkeypatch.setitem(sys.modules, "bench.runner.results", module)
    return calls


def test_build_from_runner_results(tmp_path, rows, fake_results, capsys):
    assert run("leaderboard", "build", "quick", "--version", "v1", "--root", str(tmp_path),
               "--workdir", str(tmp_path / "work"), "--notes", "hello") == 0
    assert fake_results == [(tmp_path / "work", "quick")]
    assert load_snapshot(tmp_path, "quick", "v1") == sorted(rows, key=lambda r: r.row_id)
    assert "wrote leaderboard quick v1 (3 rows)" in capsys.readouterr().out
    with pytest.raises(LeaderboardError, match="already exists"):
        run("leaderboard", "build", "quick", "--version", "v1", "--root", str(tmp_path))


def test_build_qualified_suite_id_uses_the_suite_name(tmp_path, fake_results):
    assert run("leaderboard", "build", "classics/quick", "--version", "v1", "--root", str(tmp_path)) == 0
    assert list_versions(tmp_path, "quick") == ["v1"]


def test_build_without_results_is_a_user_error(tmp_path, fake_results):
    with pytest.raises(LeaderboardError, match="no results for suite 'other'.*robarena run other"):
        run("leaderboard", "build", "other", "--version", "v1", "--root", str(tmp_path))


def test_diff_exit_codes(tmp_path, rows, make_row, capsys):
    build_snapshot(rows, "quick", "v1", root=tmp_path)
    build_snapshot(rows, "quick", "v2", root=tmp_path)
    build_snapshot(rows[1:] + [make_row("standard", 0, clean=0.8124, core_version="0.2.0")], "quick", "v3",
                   root=tmp_path)
    assert run("leaderboard", "diff", "quick", "v1", "v2", "--root", str(tmp_path)) == 0
    assert "identical results" in capsys.readouterr().out
    assert run("leaderboard", "diff", "quick", "v1", "v3", "--root", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "leaderboard quick: v1 -> v3" in out
    assert "clean: 81.23% (8123/10000) -> 81.24% (8124/10000) (+0.01 pp), within noise (p = 1)" in out
    assert "Accuracy changes: 0 significant, 1 within noise at level 0.05; test: two-sided Fisher's exact test" in out
    assert "why (versions moved): core_version 0.1.0 -> 0.2.0" in out
    assert run("leaderboard", "diff", "quick", "v1", "v3", "--root", str(tmp_path), "--atol", "0.001") == 0
    with pytest.raises(LeaderboardError, match="'v9' of suite 'quick' not found.*available: v1, v2, v3"):
        run("leaderboard", "diff", "quick", "v1", "v9", "--root", str(tmp_path))


def test_diff_across_row_schemas(tmp_path, capsys):
    """`leaderboard diff` of the published schema-1 snapshot (copied byte for byte) and a schema-2 build."""
    published = Path(__file__).resolve().parents[2] / "leaderboard" / "quick" / "1"
    shutil.copytree(published, tmp_path / "quick" / "1")
    rows = load_snapshot(tmp_path, "quick", "1")
    build_snapshot(rows, "quick", "2", root=tmp_path)
    assert json.loads((tmp_path / "quick" / "2" / "meta.json").read_text())["schema_version"] == "2"
    assert run("leaderboard", "diff", "quick", "1", "2", "--root", str(tmp_path)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "The snapshots hold identical results."
    standard = next(r for r in rows if r.defense == "standard")
    better = standard.model_copy(update={"clean": Accuracy.of(standard.clean.correct + 25, standard.clean.n)})
    build_snapshot([better if r is standard else r for r in rows], "quick", "3", root=tmp_path)
    assert run("leaderboard", "diff", "quick", "1", "3", "--root", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "clean: 93.40% (467/500) -> 98.40% (492/500) (+5.00 pp), significant (p = " in out


def test_diff_rejects_bad_atol(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run("leaderboard", "diff", "quick", "v1", "v2", "--root", str(tmp_path), "--atol", "-1")
    assert "must be a finite number >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "md", "latex"])
def test_export(tmp_path, rows, capsys, fmt):
    from bench.leaderboard.render import export

    build_snapshot(rows, "quick", "v1", root=tmp_path)
    assert run("leaderboard", "export", "quick", "v1", "--format", fmt, "--root", str(tmp_path)) == 0
    assert capsys.readouterr().out == export(rows, fmt)
    out = tmp_path / f"out.{fmt}"
    assert run("leaderboard", "export", "quick", "v1", "--format", fmt, "--root", str(tmp_path), "-o", str(out)) == 0
    assert out.read_text(encoding="utf-8") == export(rows, fmt)


def test_export_csv_numbers(tmp_path, rows, capsys):
    build_snapshot(rows, "quick", "v1", root=tmp_path)
    run("leaderboard", "export", "quick", "v1", "--format", "csv", "--root", str(tmp_path))
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("row_id")
    assert frame.loc["digits/mlp/standard/seed0", "clean"] == 0.8123
    assert frame.loc["digits/mlp/pgd-at/seed0", "robust[fgsm Linf 0.1]"] == 0.625


def test_ls(tmp_path, rows, capsys):
    assert run("leaderboard", "ls", "quick", "--root", str(tmp_path)) == 0
    assert "no versions of suite 'quick'" in capsys.readouterr().out
    build_snapshot(rows, "quick", "v2", root=tmp_path, created="2024-06-02T08:00:00Z")
    build_snapshot(rows[:1], "quick", "v10", root=tmp_path, created="2024-06-03T08:00:00Z")
    assert run("leaderboard", "ls", "quick", "--root", str(tmp_path)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "v2\t2024-06-02T08:00:00Z\t3 rows", "v10\t2024-06-03T08:00:00Z\t1 row"]
    assert run("leaderboard", "ls", "--root", str(tmp_path)) == 0
    assert capsys.readouterr().out.splitlines() == ["quick"]
