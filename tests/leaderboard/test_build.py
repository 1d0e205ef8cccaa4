"""Snapshots: files written, immutability, atomicity, exact round trip, tamper detection, validation."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import LeaderboardError, RobarenaError
from bench.leaderboard import build, render
from bench.leaderboard.build import (build_snapshot, check_files, list_suites, list_versions, load_snapshot,
                                    read_meta, to_frame)
from bench.rows.schema import SCHEMA_VERSION, Row

SUITE = "quick"
CREATED = "2024-06-02T08:00:00Z"


def test_build_writes_all_files(tmp_path, rows):
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path, notes="first cut", created=CREATED, site=False)
    assert path == tmp_path / SUITE / "v1"
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "meta.json", "rows.csv", "rows.jsonl"]
    lines = (path / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["row_id"] for line in lines] == [
        "digits/mlp/fgsm-at/seed1", "digits/mlp/pgd-at/seed0", "digits/mlp/standard/seed0"]
    assert list(json.loads(lines[0])) == list(Row.model_fields)  # schema field order
    meta = json.loads((path / "meta.json").read_text())
    assert meta == {
        "suite": SUITE, "version": "v1", "created": CREATED, "schema_version": SCHEMA_VERSION,
        "row_count": 3, "rows_sha256": hashlib.sha256((path / "rows.jsonl").read_bytes()).hexdigest(),
        "notes": "first cut",
    }
    readme = (path / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# Leaderboard: {SUITE} v1")
    assert CREATED in readme and "first cut" in readme
    assert list_versions(tmp_path, SUITE) == ["v1"]
    assert list_suites(tmp_path) == [SUITE]


def test_refuses_to_overwrite(tmp_path, rows):
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path)
    before = (path / "rows.jsonl").read_bytes()
    with pytest.raises(LeaderboardError, match="already exists.*choose a new --version"):
        build_snapshot(rows[:1], SUITE, "v1", root=tmp_path)
    assert (path / "rows.jsonl").read_bytes() == before
    assert isinstance(LeaderboardError("x"), RobarenaError)


def test_crash_mid_write_leaves_nothing(tmp_path, rows, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(render, "render_readme", boom)  # rows.jsonl and rows.csv already written by then
    with pytest.raises(RuntimeError, match="disk full"):
        build_snapshot(rows, SUITE, "v1", root=tmp_path)
    assert list((tmp_path / SUITE).iterdir()) == []  # no version dir, no temp dir
    assert list_versions(tmp_path, SUITE) == []
    monkeypatch.undo()
    build_snapshot(rows, SUITE, "v1", root=tmp_path)  # the version is still free
    assert list_versions(tmp_path, SUITE) == ["v1"]


def test_crash_at_rename_leaves_nothing(tmp_path, rows, monkeypatch):
    def failing_rename(src, dst):
        raise OSError("simulated rename failure")

    monkeypatch.setattr(build.os, "rename", failing_rename)
    with pytest.raises(LeaderboardError, match="could not move the snapshot"):
        build_snapshot(rows, SUITE, "v1", root=tmp_path)
    assert list((tmp_path / SUITE).iterdir()) == []


def test_round_trip_is_exact(tmp_path, rows, make_row):
    awkward = make_row("awkward", 3, clean=0.7, pgd=1 / 3, fgsm=2 ** -40, probe=-1e-300, task=123456789.123456789)
    path = build_snapshot(rows + [awkward], SUITE, "v1", root=tmp_path)
    loaded = load_snapshot(tmp_path, SUITE, "v1")
    assert loaded == sorted(rows + [awkward], key=lambda r: r.row_id)
    got = next(r for r in loaded if r.defense == "awkward")
    pgd = got.attack("classics/pgd", norm="Linf", eps=0.1).accuracy
    assert (pgd.correct, pgd.n, pgd.value) == (3333, 10_000, 0.3333)  # counts of the fixture's n = 10,000
    assert (pgd.low, pgd.high) == (awkward.attacks[0].accuracy.low, awkward.attacks[0].accuracy.high)  # every bit
    assert got.attack("classics/fgsm").accuracy.correct == 0 and got.clean.value == 0.7
    assert got.probes["margin.mean"] == -1e-300 and got.tasks["transfer.loss"] == 123456789.123456789
    again = build_snapshot(loaded, SUITE, "v2", root=tmp_path)  # rewriting reread rows is byte-identical
    assert (again / "rows.jsonl").read_bytes() == (path / "rows.jsonl").read_bytes()


def test_unicode_labels_round_trip(tmp_path, row_dict):
    row = row_dict("défense-α")
    path = build_snapshot([row], SUITE, "v1", root=tmp_path)
    assert "défense-α" in (path / "rows.jsonl").read_text(encoding="utf-8")
    assert load_snapshot(tmp_path, SUITE, "v1")[0].defense == "défense-α"


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("0.8123", "0.9123"),  # a number edited, still valid JSON and schema
    lambda t: "\n".join(t.splitlines()[:-1]) + "\n",  # a row deleted
])
def test_tampering_is_detected(tmp_path, rows, tamper):
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path)
    jsonl = path / "rows.jsonl"
    jsonl.write_text(tamper(jsonl.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(LeaderboardError, match="corrupted: rows.jsonl has sha256 .* restore the file"):
        load_snapshot(tmp_path, SUITE, "v1")


def test_corrupted_or_missing_snapshot(tmp_path, rows):
    with pytest.raises(LeaderboardError, match="'v9' of suite 'quick' not found.*no versions"):
        load_snapshot(tmp_path, SUITE, "v9")
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path)
    with pytest.raises(LeaderboardError, match="not found.*available: v1"):
        load_snapshot(tmp_path, SUITE, "v2")
    (path / "meta.json").write_text("{not json")
    with pytest.raises(LeaderboardError, match="corrupted: cannot read meta.json"):
        load_snapshot(tmp_path, SUITE, "v1")


def test_row_invalid_even_with_matching_hash_is_rejected(tmp_path, rows):
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path)
    text = (path / "rows.jsonl").read_text()
    assert '"clean":{"value":0.8123,' in text
    text = text.replace('"clean":{"value":0.8123,', '"clean":{"value":"0.8123",')
    (path / "rows.jsonl").write_text(text)
    meta = json.loads((path / "meta.json").read_text())
    meta["rows_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LeaderboardError, match=r"(?s)rows.jsonl line 3:.*clean.value: Input should be a valid number"):
        load_snapshot(tmp_path, SUITE, "v1")


def _set(path: str, value):
    """An edit of the row dict at a dotted path ('attacks.0.accuracy.value')."""
    def edit(row):
        *parents, last = path.split(".")
        for part in parents:
            row = row[int(part)] if isinstance(row, list) else row[part]
        row[last] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("clean.value", 81.23), r"clean.value: Input should be less than or equal to 1.*not percentages"),
    (_set("clean.value", "0.81"), r"clean.value: Input should be a valid number"),
    (_set("clean.value", True), r"clean.value: Input should be a valid number"),
    (_set("attacks.0.accuracy.value", 81.2), r"attacks.0.accuracy.value: .*less than or equal to 1.*not percentages"),
    (_set("attacks.0.accuracy.value", -0.1), r"attacks.0.accuracy.value: Input should be greater than or equal to 0"),
    (_set("attacks.0.accuracy.correct", 10_001), r"robust\[pgd Linf 0.1\]: count 10001 exceeds n = 10000"),
    (_set("clean.correct", 8000), r"clean: value 0.8123 is not its count 8000/10000"),
    (_set("clean.low", 0.9), r"clean: value 0.8123 lies outside its interval \[0.9, "),
    (_set("attacks.1.threat.eps", "0.1"), r"attacks.1.threat.eps: Input should be a valid number"),
    (_set("probe_results.0.value", float("nan")), r"probe\[margin.mean\] is nan; use None"),
    (_set("task_results.0.value", float("inf")), r"task\[transfer.loss\] is inf; use None"),
    (_set("task_results.0.value", "12.5"), r"task_results.0.value: Input should be a valid number"),
])
def test_invalid_rows_are_rejected_on_write(tmp_path, row_dict, edit, message):
    row = row_dict()
    edit(row)
    with pytest.raises(LeaderboardError, match=message):
        build_snapshot([row], SUITE, "v1", root=tmp_path)
    assert not (tmp_path / SUITE).exists()


def test_inconsistent_numbers_are_rejected_on_write(tmp_path, row_dict):
    """Robust accuracy above clean, a worst case above one of its attacks: the row's invariants."""
    with pytest.raises(LeaderboardError, match=r"robust accuracy of 'pgd' \(9000/10000\) exceeds the clean accuracy"):
        build_snapshot([row_dict(clean=0.8123, pgd=0.9)], SUITE, "v1", root=tmp_path)
    row = row_dict()
    row["worst_case"][0]["accuracy"] = row_dict(pgd=0.48)["worst_case"][0]["accuracy"]  # 4800 > pgd's 4567
    with pytest.raises(LeaderboardError, match=r"worst case at Linf 0.1 \(4800\) exceeds attack 'pgd' \(4567\)"):
        build_snapshot([row], SUITE, "v1", root=tmp_path)
    assert not (tmp_path / SUITE).exists()


def test_structural_errors_rejected(tmp_path, row_dict):
    extra = {**row_dict(), "bogus": 1}
    with pytest.raises(LeaderboardError, match="bogus: unknown field"):
        build_snapshot([extra], SUITE, "v1", root=tmp_path)
    with pytest.raises(LeaderboardError, match="duplicate row_id 'digits/mlp/standard/seed0'"):
        build_snapshot([row_dict(), row_dict(clean=0.5)], SUITE, "v1", root=tmp_path)
    with pytest.raises(LeaderboardError, match="schema_version is '0'"):
        build_snapshot([{**row_dict(), "schema_version": "0"}], SUITE, "v1", root=tmp_path)
    with pytest.raises(LeaderboardError, match="rows come from suite\\(s\\) 'other', not 'quick'"):
        build_snapshot([row_dict(suite="other")], SUITE, "v1", root=tmp_path)


@pytest.mark.parametrize("version", ["", "../x", "a/b", ".hidden", "-v", "v 1", "v1\n"])
def test_invalid_version_names(tmp_path, rows, version):
    with pytest.raises(LeaderboardError, match="invalid version .*letters, digits"):
        build_snapshot(rows, SUITE, version, root=tmp_path)


def test_list_versions_natural_order_skips_temp_dirs(tmp_path, rows):
    for version in ["v10", "v2", "v1.1", "v1"]:
        build_snapshot(rows, SUITE, version, root=tmp_path)
    (tmp_path / SUITE / ".v3.abc.tmp").mkdir()  # a crashed build from another process
    assert list_versions(tmp_path, SUITE) == ["v1", "v1.1", "v2", "v10"]
    assert list_versions(tmp_path, "nothing") == []


def test_to_frame(rows):
    frame = to_frame(rows)
    assert list(frame["row_id"]) == ["digits/mlp/fgsm-at/seed1", "digits/mlp/pgd-at/seed0", "digits/mlp/standard/seed0"]
    metrics = ["clean", "robust[pgd Linf 0.1]", "robust[fgsm Linf 0.1]", "ensemble[Linf 0.1]",
               "probe[margin.mean]", "task[transfer.loss]"]
    assert [c for c in frame.columns if c in metrics] == metrics
    assert all(frame[c].dtype == "float64" for c in metrics)
    assert frame["clean"].tolist() == [0.7, 0.75, 0.8123]
    assert frame["robust[pgd Linf 0.1]"].isna().tolist() == [True, False, False]
    assert frame["flags"].tolist() == ["", "square_beats_whitebox", ""]
    assert frame["prov.plugins"].iloc[0] == "robarena-classics=0.1.0"
    assert to_frame([]).empty


def test_leaderboard_does_not_import_torch():
    code = ("import sys, bench.leaderboard.build, bench.leaderboard.diff, bench.cli.leaderboard_cmd, "
            "bench.leaderboard.render; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


PUBLISHED = Path(__file__).resolve().parents[2] / "leaderboard"


def test_reads_schema_1_and_writes_schema_2(tmp_path):
    """The published schema-1 snapshot loads (upgraded in memory, its files untouched); rebuilt from
    the same rows it becomes a schema-2 snapshot holding the same rows."""
    before = {p.name: p.read_bytes() for p in (PUBLISHED / "quick" / "1").iterdir()}
    old = load_snapshot(PUBLISHED, "quick", "1")
    assert read_meta(PUBLISHED, "quick", "1")["schema_version"] == "1"
    assert check_files(PUBLISHED, "quick", "1") == {}  # built before meta.json listed files
    assert [r.schema_version for r in old] == ["2", "2"]
    pgd_at = next(r for r in old if r.defense == "pgd-at")
    assert (pgd_at.clean.correct, pgd_at.clean.n) == (480, 500)  # 0.96 of provenance.n = 500
    assert pgd_at.attack("classics/pgd", norm="Linf", eps=0.1).accuracy.correct == 400  # "pgd Linf 0.1": 0.8

    path = build_snapshot(old, "quick", "2", root=tmp_path)
    assert read_meta(tmp_path, "quick", "2")["schema_version"] == SCHEMA_VERSION == "2"
    assert {json.loads(line)["schema_version"] for line in (path / "rows.jsonl").read_text().splitlines()} == {"2"}
    assert set(check_files(tmp_path, "quick", "2").values()) == {"ok"}
    assert load_snapshot(tmp_path, "quick", "2") == old
    assert {p.name: p.read_bytes() for p in (PUBLISHED / "quick" / "1").iterdir()} == before  # never rewritten


def _rewrite_meta(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


def test_unknown_schema_and_mixed_schemas_are_refused(tmp_path, rows):
    path = build_snapshot(rows, SUITE, "v1", root=tmp_path)
    _rewrite_meta(path, schema_version="3")
    with pytest.raises(LeaderboardError, match=r"uses row schema '3'; this robarena reads '1' and '2': install"):
        load_snapshot(tmp_path, SUITE, "v1")
    _rewrite_meta(path, schema_version="1")  # meta.json says 1, the rows are 2
    with pytest.raises(LeaderboardError, match=r"rows.jsonl line 1 has row schema '2' but meta.json records '1'"):
        load_snapshot(tmp_path, SUITE, "v1")
