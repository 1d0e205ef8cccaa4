"""Always-run probes: planned on every row unless ``integrity = false``; their flags reach every output.

Uses the core's test plugin plus ``robarena_flagkit`` (one ``always`` probe, ``tripwire``, that
flags each row with the number of attack outputs it received).
"""
import json
import sys

import pytest
import torch
from runner_helpers import tiny_suite

import bench
from bench.api import Probe, ProbeInput, ProbeResult
from bench.cli.main import main
from bench.errors import RobarenaError, UsageError
from bench.leaderboard.diff import diff_snapshots, reference_columns_only
from bench.leaderboard.render import FLAG_MARK, to_csv, to_jsonl, to_latex, to_markdown
from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.results import load_rows
from bench.runner.suite import suite_from_dict
from bench.store.results import ResultsStore


@pytest.fixture
def flagkit(testkit):
    yield (*testkit, "robarena_flagkit")
    sys.modules.pop("robarena_flagkit", None)


def plan_for(plugins, **overrides):
    return build_plan(suite_from_dict(tiny_suite(**overrides)), get_registry(plugins))


TWO_ROWS = {"defenses": [{"id": "erm"}, {"id": "erm", "label": "erm2"}], "seeds": [0, 1],
            "attacks": [{"id": "sign", "eps": [0.05, 0.1]}, {"id": "noise", "eps": 0.1}]}


# --------------------------------------------------------------------------- planning
def test_always_probe_is_planned_on_every_row_with_all_its_attacks(flagkit):
    plan = plan_for(flagkit, **TWO_ROWS)
    assert len(plan.train_cells) == 4
    trip = [p for p in plan.probe_cells if p.probe.qid == "robarena_flagkit/tripwire"]
    assert sorted(p.train.row_id for p in trip) == sorted(c.row_id for c in plan.train_cells)
    for cell in trip:
        own = [a for a in plan.attack_cells if a.train == cell.train]
        assert cell.probe.label == "tripwire" and list(cell.attacks) == own and len(own) == 3
    # the suite's own probe is still there, once per row
    assert sum(p.probe.label == "confidence" for p in plan.probe_cells) == 4


def test_integrity_false_leaves_the_always_probes_out_with_a_reason(flagkit):
    plan = plan_for(flagkit, integrity=False, **TWO_ROWS)
    assert [p.probe.label for p in plan.probe_cells] == ["confidence"] * 4
    assert plan.dropped == [("probe tripwire (every row)", "the suite sets integrity = false")]


def test_a_suite_listing_the_always_probe_runs_it_once_with_its_entry(flagkit):
    probes = [{"id": "confidence"}, {"id": "tripwire", "label": "tw"}]
    for integrity in (True, False):
        plan = plan_for(flagkit, probes=probes, integrity=integrity)
        assert [p.probe.label for p in plan.probe_cells] == ["confidence", "tw"]
        assert plan.dropped == []


def test_a_suite_label_clashing_with_an_always_probe_is_a_usage_error(flagkit):
    with pytest.raises(UsageError, match="share the label 'tripwire'"):
        plan_for(flagkit, probes=[{"id": "confidence", "label": "tripwire"}])


def test_without_always_probes_nothing_is_added(testkit):
    plan = plan_for(testkit)
    assert [p.probe.label for p in plan.probe_cells] == ["confidence"] and plan.dropped == []


def test_integrity_must_be_a_boolean():
    with pytest.raises(UsageError, match="integrity"):
        suite_from_dict(tiny_suite(integrity="sometimes"))


# --------------------------------------------------------------------------- a run end to end
def test_probe_flags_and_needs_gradients_reach_rows_and_every_output(tmp_path, flagkit, capsys):
    suite = tiny_suite(attacks=[{"id": "sign", "eps": 0.1}, {"id": "noise", "eps": 0.1}])
    res = bench.run(suite, workdir=tmp_path, plugins=flagkit)
    assert res.ok
    (row,) = res.rows
    assert row.flags == ["tripwire:2 attacks"] and row.probes["tripwire.n_attacks"] == 2.0

    store = ResultsStore(tmp_path / "results.sqlite")
    metas = {r["meta"]["attack"]: r["meta"] for r in
             (store.get_cell(k) for (k,) in store.conn.execute("SELECT key FROM cells WHERE stage='attack'"))}
    store.close()
    assert metas["sign"]["needs_gradients"] is True and metas["noise"]["needs_gradients"] is False

    assert load_rows(tmp_path, "tiny")[0].flags == row.flags  # rows rebuilt from the store
    md = to_markdown(res.rows)
    assert f"tiny-linear {FLAG_MARK}" in md and "tripwire:2 attacks" in md
    assert "tiny-linear *" in to_latex(res.rows)
    header, line = to_csv(res.rows).splitlines()[:2]
    assert line.split(",")[header.split(",").index("flags")] == "tripwire:2 attacks"
    assert json.loads(to_jsonl(res.rows))["flags"] == ["tripwire:2 attacks"]
    assert main(["-p", "robarena_testkit", "-p", "robarena_flagkit", "show", "tiny", "erm",
                 "--workdir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["flags"] == ["tripwire:2 attacks"]


def test_a_cached_run_keeps_the_flags(tmp_path, flagkit):
    first = bench.run(tiny_suite(), workdir=tmp_path, plugins=flagkit)
    again = bench.run(tiny_suite(), workdir=tmp_path, plugins=flagkit)
    assert again.computed == 0 and again.rows[0].flags == first.rows[0].flags == ["tripwire:1 attacks"]


def test_a_snapshot_from_before_an_always_probe_is_compared_on_its_own_columns(tmp_path, flagkit):
    (row,) = bench.run(tiny_suite(), workdir=tmp_path, plugins=flagkit).rows
    published = row.model_copy(update={"probe_results": [m for m in row.probe_results
                                                         if (m.label, m.column) == ("confidence", "mean_max_prob")]})
    assert list(published.probes) == ["confidence.mean_max_prob"]
    assert not diff_snapshots([published], [row]).identical  # the new column counts as a change ...
    (cut,) = reference_columns_only([row], [published])
    assert cut.probes == published.probes and cut.flags == row.flags
    assert diff_snapshots([published], [cut]).identical  # ... unless only the published columns are compared
    moved = row.model_copy(update={"clean": None, "flags": []})  # the clean cell missing, the flag gone
    changed = diff_snapshots([published], reference_columns_only([moved], [published])).changed
    assert changed[0].flags_removed == ("tripwire:1 attacks",) and changed[0].metrics[0].column == "clean"


# --------------------------------------------------------------------------- ProbeResult.flags
class Flagging(Probe):
    def __init__(self, flags):
        super().__init__()
        self.flags = flags

    def run(self, model, data, generator):
        return ProbeResult({"x": 1.0}, flags=self.flags)


def _call(flags):
    data = ProbeInput(x=torch.zeros(2, 1, 2, 2), y=torch.zeros(2, dtype=torch.long), num_classes=2,
                      device=torch.device("cpu"))
    return Flagging(flags)(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), data)


def test_probe_flags_default_to_none_and_keep_first_seen_order_without_duplicates():
    assert ProbeResult({"a": 1.0}).flags == []
    assert _call(["b", "a", "b"]).flags == ["b", "a"]
    assert _call(("one",)).flags == ["one"]


@pytest.mark.parametrize("bad", ["zero-gradients", [1], [""], ["a;b"], ["a,b"], ["a\nb"], None])
def test_malformed_probe_flags_are_rejected(bad):
    with pytest.raises(RobarenaError, match="flag"):
        _call(bad)

