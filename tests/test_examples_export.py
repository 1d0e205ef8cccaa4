"""Per-example outcomes (bench.examples, robarena export-examples, robarena show --examples) against
the store's own arrays, the dataset and the loaded model."""
from __future__ import annotations

import json

import pytest
import torch

import bench
from bench.cli.main import main
from bench.errors import LeaderboardError, UsageError
from bench.rows.labels import attack_column, threat_label
from drill_helpers import N, PLUGINS, arrays as _arrays, drill, eval_data as _eval_data  # noqa: F401  (fixture)
from store_helpers import workdir  # noqa: F401  (fixture)

OK_ROWS = ("digits/tiny-linear/erm/seed0", "digits/tiny-linear/shifted/seed0")


_RECORDS: dict = {}


@pytest.fixture
def records(drill):
    """bench.examples over the whole run, with margins (computed once per process)."""
    if drill.workdir not in _RECORDS:
        _RECORDS[drill.workdir] = list(bench.examples("drill", workdir=drill.workdir, plugins=PLUGINS))
    return json.loads(json.dumps(_RECORDS[drill.workdir]))  # a copy each test may change


def _of(records, row_id):
    out = [r for r in records if r["row_id"] == row_id]
    assert [r["index"] for r in out] == list(range(N))
    return out


def test_one_record_per_example_of_each_trained_row(drill, records):
    assert len(records) == 2 * N  # the row whose training failed has no examples
    assert {r["row_id"] for r in records} == set(OK_ROWS)
    _x, y = _eval_data()
    for row_id in OK_ROWS:
        assert [r["label"] for r in _of(records, row_id)] == y.tolist()


def test_flags_are_the_stores_arrays_and_counts_are_the_rows(drill, records):
    for row in (r for r in drill.result.rows if r.row_id in OK_ROWS):
        mine = _of(records, row.row_id)
        clean = _arrays(drill.workdir, row.row_id, "clean")["clean_correct"].bool()
        assert [r["clean_correct"] for r in mine] == clean.tolist()
        assert sum(r["clean_correct"] for r in mine) == row.clean.correct
        for a in row.attacks:
            stored = _arrays(drill.workdir, row.row_id, "attack", a.label)
            robust = stored["robust_correct"].bool()
            entries = [r["attacks"][attack_column(a)] for r in mine]
            assert [e["fooled"] for e in entries] == (clean & ~robust).tolist()
            assert [e["robust"] for e in entries] == robust.tolist()
            assert [e["adv_pred"] for e in entries] == stored["adv_pred"].tolist()
            assert sum(e["robust"] for e in entries) == a.accuracy.correct
            assert (entries[0]["attack_id"], entries[0]["norm"], entries[0]["eps"]) == \
                (a.attack_id, a.threat.norm, a.threat.eps)
        for w in row.worst_case:
            assert sum(r["worst_case"][threat_label(w.threat)]["robust"] for r in mine) == w.accuracy.correct
        assert {len(w.attacks) for w in row.worst_case} == {1, 2}  # Linf 0.1 combines sign3 and noise


def test_distances_are_the_perturbation_norms(drill, records):
    x, _y = _eval_data()
    row = next(r for r in drill.result.rows if r.row_id == OK_ROWS[0])
    for a in row.attacks:
        delta = (_arrays(drill.workdir, row.row_id, "attack", a.label)["x_adv"] - x).flatten(1).double()
        want = delta.norm(dim=1) if a.threat.norm == "L2" else delta.abs().amax(dim=1)
        got = torch.tensor([r["attacks"][attack_column(a)]["distance"] for r in _of(records, row.row_id)],
                           dtype=torch.float64)
        assert torch.allclose(got, want, rtol=0, atol=1e-12)
        assert float(got.max()) <= a.threat.eps + 1e-5 and float(got.max()) > 0


def test_margins_and_predictions_come_from_the_loaded_model(drill, records):
    x, y = _eval_data()
    for row_id in OK_ROWS:
        model = bench.load_model(row_id, suite="drill", workdir=drill.workdir, plugins=PLUGINS)
        mine = _of(records, row_id)
        with torch.no_grad():
            logits = model(x)
        assert [r["clean_pred"] for r in mine] == logits.argmax(1).tolist()
        assert [r["clean_correct"] for r in mine] == (logits.argmax(1) == y).tolist()
        for label in ("sign3", "sign-t"):
            x_adv = _arrays(drill.workdir, row_id, "attack", label)["x_adv"]
            with torch.no_grad():
                adv = model(x_adv)
            others = adv.clone()
            others[torch.arange(N), y] = float("-inf")
            want = adv[torch.arange(N), y] - others.max(1).values
            entries = [next(e for e in r["attacks"].values() if e["label"] == label) for r in mine]
            got = torch.tensor([e["margin"] for e in entries])
            assert torch.allclose(got, want, atol=1e-5)
            assert [m > 0 for m in got.tolist()] == [e["adv_pred"] == r["label"] for e, r in zip(entries, mine)]


def test_targeted_entries_carry_their_target(records):
    entries = [r["attacks"]["sign-t L2 0.5 targeted"] for r in records]
    assert all(e["targeted"] and e["target"] != r["label"] for e, r in zip(entries, records))
    assert all("target" not in r["attacks"]["sign3 Linf 0.1"] for r in records)


def test_without_margins_nothing_is_loaded_and_the_rest_is_the_same(drill, records, monkeypatch):
    from bench.runner.restore import ModelLoader

    monkeypatch.setattr(ModelLoader, "model", lambda *a: pytest.fail("a model was loaded"))
    plain = list(bench.examples("drill", workdir=drill.workdir, margins=False, plugins=PLUGINS))

    def strip(rec):
        rec = json.loads(json.dumps(rec))
        rec.pop("clean_pred"), rec.pop("clean_margin")
        for e in rec["attacks"].values():
            e.pop("margin")
        return rec

    assert all(r["clean_pred"] is None and r["clean_margin"] is None for r in plain)
    assert [strip(r) for r in plain] == [strip(r) for r in records]


def test_examples_errors_come_before_the_first_record(drill):
    with pytest.raises(UsageError, match="0 rows match 'nope'"):
        bench.examples("drill", "nope", workdir=drill.workdir)
    with pytest.raises(LeaderboardError, match="its training failed"):
        bench.examples("drill", "broken", workdir=drill.workdir)
    with pytest.raises(UsageError, match="batch_size must be at least 1"):
        bench.examples("drill", workdir=drill.workdir, batch_size=0)


def test_export_examples_cli_writes_the_records(drill, records, tmp_path, capsys):
    out = tmp_path / "ex.jsonl"
    argv = ["-p", PLUGINS[0], "-p", PLUGINS[1], "export-examples", "drill"]
    wd = ["--workdir", str(drill.workdir)]
    assert main([*argv, *wd, "--out", str(out)]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == json.loads(json.dumps(records))
    assert f"wrote {2 * N} example line(s)" in capsys.readouterr().err
    assert main([*argv, "shifted", *wd, "--out", "-", "--no-margins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == N and all(json.loads(line)["clean_margin"] is None for line in lines)
    assert main([*argv, *wd, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"ERROR: --out {tmp_path} is a directory")
    assert main([*argv, "broken", *wd, "--out", str(tmp_path / "b.jsonl")]) == 2
    assert "training failed" in capsys.readouterr().err and not (tmp_path / "b.jsonl").exists()


def test_show_examples_prints_one_line_per_example_and_the_rows_counts(drill, capsys):
    row = next(r for r in drill.result.rows if r.row_id == OK_ROWS[1])
    argv = ["-p", PLUGINS[0], "-p", PLUGINS[1], "show", "drill", "shifted", "--workdir", str(drill.workdir)]
    assert main([*argv, "--examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1].split("  ")
    assert [h.strip() for h in header if h.strip()][:4] == ["index", "label", "clean", attack_column(row.attacks[0])]
    assert len(lines) == 1 + 2 + N + 1  # title, header and rule, examples, counts
    counts = lines[-1].split()[1:]
    want = [row.clean.correct, *(a.accuracy.correct for a in row.attacks),
            *(w.accuracy.correct for w in row.worst_case)]
    assert counts == [f"{c}/{N}" for c in want]
    assert main([*argv, "--examples", "--version", "v1"]) == 2
    assert "drop --version" in capsys.readouterr().err


def test_a_read_only_workdir_is_exported_as_it_is(workdir, tmp_path):  # noqa: F811  (store_helpers fixture)
    from store_helpers import cli_child, digest_tree, make_read_only, make_writable

    make_read_only(workdir)
    before = digest_tree(workdir)
    try:
        show, export = cli_child(
            ["show", "tiny", "erm", "--examples", "--workdir", str(workdir)],
            ["export-examples", "tiny", "--workdir", str(workdir), "--out", str(tmp_path / "e.jsonl")],
            cwd=tmp_path, unprivileged=True)
        assert digest_tree(workdir) == before
    finally:
        make_writable(workdir)
    assert (show["code"], export["code"]) == (0, 0), (show, export)
    assert show["out"].splitlines()[-1].split()[0] == "correct"
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 60
