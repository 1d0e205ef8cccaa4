"""Probes over training: a probe's ``epochs`` runs it on the weights after those epochs.

Known answers: with a constant learning rate, the weights after epoch 1 of a 3-epoch training are
those of a 1-epoch training of the same seed (same initialisation, same shuffles), so the epoch-1
value equals the ordinary probe of that 1-epoch model; the last epoch's weights are the final
model's, so its value equals the ordinary probe's.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
from runner_helpers import tiny_suite

import bench
from bench.errors import UsageError
from bench.leaderboard.plots import collect
from bench.registry import get_registry
from bench.rows.frame import find_columns, to_frame
from bench.rows.schema import MetricResult, Row
from bench.runner.context import RunContext
from bench.runner.plan import build_plan
from bench.runner.stages.probe import PROBE
from bench.runner.stages.train import TRAIN
from bench.runner.suite import suite_from_dict
from bench.store.cache import ArtifactCache
from bench.store.results import ResultsStore
from bench.testing.rows import row as row_dict

TRAIN_CONFIG = {"epochs": 3, "batch_size": 32, "lr": 0.1, "schedule": "constant"}
COLUMN = "mean_max_prob"


def over_training(epochs=(1, 2, 3), **overrides):
    return tiny_suite(**{"probes": [{"id": "confidence", "epochs": list(epochs)}], "train": dict(TRAIN_CONFIG),
                         **overrides})


def plan_of(data, kit):
    return build_plan(suite_from_dict(data), get_registry(kit))


def train_record(workdir):
    store = ResultsStore(workdir / "results.sqlite")
    try:
        (key,) = [k for (k,) in store.conn.execute("SELECT key FROM cells WHERE stage='train'")]
        return store.get_cell(key)
    finally:
        store.close()


def test_the_plan_has_one_probe_cell_per_row_probe_and_epoch(testkit):
    plan = plan_of(over_training((3, 1), seeds=[0, 1]), testkit)
    assert [c.keep_epochs for c in plan.train_cells] == [(1, 3), (1, 3)]
    for train in plan.train_cells:
        cells = [p for p in plan.probe_cells if p.train == train and p.probe.label == "confidence"]
        assert [c.epoch for c in cells] == [None, 1, 3]  # the final model's cell, then one per epoch
        assert [c.cell_id for c in cells] == [f"{train.row_id} :: probe confidence" + at for at in ("", " @e1", " @e3")]
    assert plan.n_cells == 2 * (2 + 1 + 3)  # per row: train + clean, one attack, three probe cells


def test_suites_without_epochs_keep_their_keys(tmp_path, testkit):
    plain = plan_of(tiny_suite(train=dict(TRAIN_CONFIG)), testkit)
    kept = plan_of(over_training((2,)), testkit)
    ctx = RunContext(registry=get_registry(testkit), workdir=tmp_path, device=torch.device("cpu"), progress=False,
                     eval_n=60, eval_batch=32)
    try:
        train, train_kept = plain.train_cells[0], kept.train_cells[0]
        assert train.keep_epochs == () and dataclasses.replace(train_kept, keep_epochs=()) == train
        parts = TRAIN.parts(ctx, train)
        assert set(parts) == {"dataset", "fingerprint", "seed", "model", "defense", "train"}  # the layout before
        assert TRAIN.parts(ctx, train_kept) == {**parts, "keep_epochs": [2]}
        assert TRAIN.key(ctx, train_kept) != TRAIN.key(ctx, train)
        probe_parts = PROBE.parts(ctx, plain.probe_cells[0])
        assert set(probe_parts) == {"train", "probe", "n", "attacks"}
        final, at2 = [c for c in kept.probe_cells if c.probe.label == "confidence"]
        assert PROBE.parts(ctx, final) == {**probe_parts, "train": TRAIN.key(ctx, train_kept)}
        assert PROBE.parts(ctx, at2) == {**probe_parts, "train": TRAIN.key(ctx, train_kept), "epoch": 2}
    finally:
        ctx.close()
    res = bench.run(tiny_suite(train=dict(TRAIN_CONFIG)), workdir=tmp_path / "plain", plugins=testkit)
    assert res.ok and "epoch_checkpoints" not in train_record(tmp_path / "plain")["payload"]
    keeping = bench.run(over_training((2,)), workdir=tmp_path / "kept", plugins=testkit)
    assert keeping.ok and "epoch_checkpoints" in train_record(tmp_path / "kept")["payload"]
    # keeping epochs changes the training key, never the training: the same final weights and values
    assert keeping.rows[0].artifacts["checkpoint"] == res.rows[0].artifacts["checkpoint"]
    qid = res.plan.probe_cells[0].probe.qid
    assert keeping.rows[0].metric(qid, COLUMN) == res.rows[0].metric(qid, COLUMN)


def test_a_tiny_run_gives_a_curve_ending_at_the_final_model(tmp_path, testkit):
    res = bench.run(over_training(), workdir=tmp_path, plugins=testkit)
    assert res.ok, res.failures
    (row,) = res.rows
    qid = res.plan.probe_cells[0].probe.qid
    curve = row.metric_curve(qid, COLUMN)
    assert list(curve) == [1, 2, 3]
    assert curve[3] == row.metric(qid, COLUMN).value  # the last epoch's weights are the final model
    assert len(set(curve.values())) == 3

    rec = train_record(tmp_path)
    kept = rec["payload"]["epoch_checkpoints"]
    assert sorted(kept) == ["1", "2", "3"] and len(set(kept.values())) == 3
    assert kept["3"] == rec["payload"]["checkpoint"] == row.artifacts["checkpoint"]
    cache = ArtifactCache(tmp_path / "cache")
    w1, w2 = cache.get_tensors(kept["1"]), cache.get_tensors(kept["2"])
    assert any(not torch.equal(w1[k], w2[k]) for k in w1)

    # epoch 1 of this training = a 1-epoch training of the same seed (constant lr): same weights, same value
    one = bench.run(tiny_suite(train={**TRAIN_CONFIG, "epochs": 1}), workdir=tmp_path / "one", plugins=testkit)
    assert one.ok, one.failures
    w_one = ArtifactCache(tmp_path / "one" / "cache").get_tensors(one.rows[0].artifacts["checkpoint"])
    assert all(torch.equal(w1[k], w_one[k]) for k in w1)
    assert one.rows[0].metric(qid, COLUMN).value == curve[1]

    frame = to_frame(res.rows)
    assert find_columns(frame, "probe", id=qid, name=COLUMN) == [f"probe[confidence.{COLUMN}]"]
    assert find_columns(frame, "probe", id=qid, name=COLUMN, epoch=2) == [f"probe[confidence.{COLUMN}@e2]"]
    assert frame.loc[0, f"probe[confidence.{COLUMN}@e2]"] == curve[2]
    (spec,) = [s for s in collect(res.rows)[0] if s.kind == "epoch-curve"]
    assert spec.series[0].x == (1.0, 2.0, 3.0) and spec.series[0].y == tuple(curve.values())

    again = bench.run(over_training(), workdir=tmp_path, plugins=testkit)
    assert again.ok and again.computed == 0
    assert again.rows[0].model_dump(exclude={"provenance"}) == row.model_dump(exclude={"provenance"})


def test_epoch_curves_plot_each_column_against_the_epoch_and_leave_column_families_alone():
    def probe(column, value, epoch=None):
        return {**MetricResult(kind="probe", source_id="disentangle/cckl", label="cckl", column=column, value=value,
                               epoch=epoch).model_dump()}
    std = ("standard", "classics/standard", {})
    at = ("PGD-AT", "classics/pgd-at", {})
    a = Row.model_validate(row_dict(std, probes=[probe("cckl", 9.5), probe("cckl", 2.0, 1), probe("cckl", 9.5, 10),
                                                 probe("cckl", 6.0, 5)]))
    b = Row.model_validate(row_dict(at, probes=[probe("cckl", 4.5), probe("cckl", 1.0, 1), probe("cckl", 4.5, 10)]))
    specs, _ = collect([a, b])
    assert not [s for s in specs if s.kind == "column-family"]  # '@e<k>' is a display suffix, not a family
    (spec,) = [s for s in specs if s.kind == "epoch-curve"]
    assert spec.key == ("probe", "disentangle/cckl", "cckl", "cckl") and spec.xlabel == "epoch"
    assert {s.row_id: (s.x, s.y) for s in spec.series} == {a.row_id: ((1.0, 5.0, 10.0), (2.0, 6.0, 9.5)),
                                                           b.row_id: ((1.0, 10.0), (1.0, 4.5))}
    assert a.metric("disentangle/cckl", "cckl").value == 9.5 and a.metric("disentangle/cckl", "cckl", epoch=5).value == 6
    assert a.probes == {"cckl.cckl": 9.5, "cckl.cckl@e1": 2.0, "cckl.cckl@e10": 9.5, "cckl.cckl@e5": 6.0}


@pytest.mark.parametrize("epochs, match", [([0], "whole number >= 1"), ([], "lists no epoch"),
                                           ([2, 2], "lists an epoch twice"), ([4], r"trains for 3 epochs")])
def test_bad_epochs_are_refused_before_anything_runs(tmp_path, testkit, epochs, match):
    with pytest.raises(UsageError, match=match):
        bench.run(over_training(epochs), workdir=tmp_path, plugins=testkit)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.*"))


def test_an_epoch_beyond_a_rows_own_training_names_the_row(testkit):
    suite = over_training((3,), models=[{"id": "tiny-linear", "train": {"epochs": 2}}])
    with pytest.raises(UsageError, match=r"tiny-linear/erm trains for 2 epochs"):
        plan_of(suite, testkit)


def test_pretrained_rows_and_probes_that_read_attacks_are_refused(testkit):
    pre = {"label": "brought", "arch": "tiny-linear", "checkpoint": "nowhere.safetensors", "dataset": "core/digits"}
    with pytest.raises(UsageError, match="'brought' was not trained by this suite"):
        plan_of(over_training(datasets=[], models=[], defenses=[], pretrained=[pre]), testkit)
    with pytest.raises(UsageError, match="needs_attacks"):
        plan_of(tiny_suite(probes=[{"id": "adv-gap", "epochs": [1]}]), testkit)


def test_a_defense_that_saves_no_epoch_checkpoint_fails_its_row_clearly(tmp_path, testkit, monkeypatch):
    import robarena_testkit_impl as impl
    from bench.api.training import fit_with_loss

    def fit(self, model, data, ctx):  # a defense with its own loop: never calls ctx.save_epoch
        return fit_with_loss(model, data, self.train, dataclasses.replace(ctx, save_epoch=None),
                             lambda m, x, y, c: torch.nn.functional.cross_entropy(m(x), y))

    monkeypatch.setattr(impl.ERM, "fit", fit)
    res = bench.run(over_training((1,)), workdir=tmp_path, plugins=testkit)
    assert not res.ok
    assert any("saved no epoch checkpoint" in str(f) for f in res.failures)


def test_a_resumed_training_still_knows_the_epochs_it_kept(tmp_path):
    from bench.runner.stages import partials

    path, stored = tmp_path / "partial" / "k.pt", {}

    def put(state):  # a stand-in for the artifact cache: digest = the weight's value
        stored[f"w{float(state['w'])}"] = state
        return f"w{float(state['w'])}"

    kept: dict[int, str] = {}
    save, _ = partials.keeping(partials.epoch_saver(path), partials.epoch_loader(path), (1, 3), put, kept)
    for epoch in (1, 2):  # killed after epoch 2
        save(epoch, {"model": {"w": torch.tensor(float(epoch))}, "optimizer": {}})
    assert kept == {1: "w1.0"}
    resumed: dict[int, str] = {}
    save2, load2 = partials.keeping(partials.epoch_saver(path), partials.epoch_loader(path), (1, 3), put, resumed)
    epoch, state = load2()
    assert epoch == 2 and resumed == {1: "w1.0"} and partials.KEPT not in state
    assert torch.equal(state["model"]["w"], torch.tensor(2.0))
    save2(3, {"model": {"w": torch.tensor(3.0)}, "optimizer": {}})
    assert resumed == {1: "w1.0", 3: "w3.0"}
