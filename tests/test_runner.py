"""Runner: scoring, caching, partial recomputation, failures as rows, resume, bad input."""
import numpy as np
import pytest
import torch
from runner_helpers import tiny_suite

import bench
from bench.errors import ConfigError, UnknownComponentError, UsageError
from bench.store.cache import ArtifactCache
from bench.store.results import ResultsStore


def run(suite, wd, testkit, **kw):
    return bench.run(suite, workdir=wd, plugins=testkit, **kw)


def stored_arrays(wd, rows_or_keys):
    return ArtifactCache(wd / "cache")


def attack_records(wd):
    store = ResultsStore(wd / "results.sqlite")
    recs = [store.get_cell(k) for (k,) in store.conn.execute("SELECT key FROM cells WHERE stage='attack'")]
    store.close()
    return recs


def test_scores_are_the_runners_own_forward_pass(tmp_path, testkit):
    res = run(tiny_suite(), tmp_path, testkit)
    assert res.ok and len(res.rows) == 1
    (rec,) = attack_records(tmp_path)
    arrays = ArtifactCache(tmp_path / "cache").get_tensors(rec["payload"]["arrays"])
    # rebuild the trained model from its checkpoint and score x_adv ourselves
    from bench.testing.tiny import TinyLinear
    from bench.data.digits import Digits

    model = TinyLinear((1, 8, 8), 10)
    model.load_state_dict(ArtifactCache(tmp_path / "cache").get_tensors(res.rows[0].artifacts["checkpoint"]))
    data = Digits(Digits.Config(n_train=300, n_test=60))()
    with torch.no_grad():
        clean = model(data.x_test).argmax(1) == data.y_test
        adv = model(arrays["x_adv"]).argmax(1) == data.y_test
    row = res.rows[0]
    assert row.clean_accuracy == pytest.approx(clean.double().mean().item(), abs=0)
    assert row.robust["sign Linf 0.1"] == pytest.approx((clean & adv).double().mean().item(), abs=0)
    assert (arrays["x_adv"] - data.x_test).abs().max() <= 0.1 + 1e-6


def test_ensemble_is_the_per_example_worst_case(tmp_path, testkit):
    suite = tiny_suite(attacks=[{"id": "sign", "eps": 0.1, "params": {"steps": 1}},
                                {"id": "sign", "label": "sign5", "eps": 0.1, "params": {"steps": 5}},
                                {"id": "noise", "eps": 0.1}])
    res = run(suite, tmp_path, testkit)
    row = res.rows[0]
    cache = ArtifactCache(tmp_path / "cache")
    masks = [cache.get_tensors(r["payload"]["arrays"])["robust_correct"].bool() for r in attack_records(tmp_path)]
    worst = masks[0] & masks[1] & masks[2]
    assert row.ensemble["Linf 0.1"] == worst.double().mean().item()
    assert row.ensemble["Linf 0.1"] <= min(row.robust.values())


def test_warm_rerun_computes_nothing_and_gives_identical_rows(tmp_path, testkit):
    first = run(tiny_suite(), tmp_path, testkit)
    again = run(tiny_suite(), tmp_path, testkit)
    assert first.computed == 4 and again.computed == 0 and again.cached == 4  # train, clean, attack, probe
    strip = lambda rows: [r.model_dump(exclude={"provenance": {"date"}}) for r in rows]  # noqa: E731
    assert strip(first.rows) == strip(again.rows)


def test_changing_one_component_recomputes_only_its_cells(tmp_path, testkit):
    run(tiny_suite(), tmp_path, testkit)
    changed = tiny_suite(attacks=[{"id": "sign", "eps": 0.1, "params": {"steps": 4}}])
    res = run(changed, tmp_path, testkit)
    assert res.computed == 1  # the attack cell only: training and the probe are reused


def test_spec_version_bump_recomputes_only_that_components_cells(tmp_path, testkit, monkeypatch):
    run(tiny_suite(), tmp_path, testkit)
    import robarena_testkit
    from bench.registry import _CACHE
    from bench.specs import ProbeSpec

    monkeypatch.setattr(robarena_testkit, "robarena_probes", robarena_testkit.robarena_probes)
    original = robarena_testkit.robarena_probes.__wrapped__ if hasattr(robarena_testkit.robarena_probes, "__wrapped__") else None
    del original
    _CACHE.clear()
    reg = bench.registry.get_registry(testkit)
    entry = reg.get("probe", "confidence")
    bumped = ProbeSpec(**{**entry.spec.model_dump(), "version": "2"})
    reg._entries["probe"][entry.qualified_id] = type(entry)(entry.qualified_id, bumped, entry.plugin)
    res = run(tiny_suite(), tmp_path, testkit)
    assert res.computed == 1 and res.rows[0].provenance.specs["robarena_testkit/confidence"] == "2"


def test_corrupted_artifact_is_detected_and_recomputed(tmp_path, testkit):
    first = run(tiny_suite(), tmp_path, testkit)
    digest = first.rows[0].artifacts["checkpoint"]
    path = ArtifactCache(tmp_path / "cache").path(digest)
    path.write_bytes(path.read_bytes()[:50])  # truncate
    res = run(tiny_suite(), tmp_path, testkit)
    assert res.ok and res.computed >= 1
    assert res.rows[0].robust == first.rows[0].robust  # recomputed deterministically
    assert ArtifactCache(tmp_path / "cache").has(digest)


def test_failures_are_rows_and_the_run_goes_on(tmp_path, testkit):
    suite = tiny_suite(defenses=[{"id": "erm"}, {"id": "broken"}],
                       attacks=[{"id": "sign", "eps": 0.1}, {"id": "escape", "eps": 0.1}])
    res = run(suite, tmp_path, testkit)
    assert not res.ok
    rows = {r.defense: r for r in res.rows}
    assert rows["erm"].robust["sign Linf 0.1"] is not None
    assert rows["erm"].robust["escape Linf 0.1"] is None
    assert rows["erm"].ensemble["Linf 0.1"] is None  # never a worst case over a subset of attacks
    assert any("outside the threat model" in e for e in rows["erm"].errors)
    assert rows["broken"].clean_accuracy is None
    assert any("this defense always fails" in e for e in rows["broken"].errors)
    # the failed cells are retried, the good ones are not
    again = run(suite, tmp_path, testkit)
    assert again.computed == 0 and len(again.failures) == len(res.failures)


def test_interrupted_run_resumes_without_lost_or_duplicated_rows(tmp_path, testkit):
    suite = tiny_suite(defenses=[{"id": "erm"}, {"id": "erm", "label": "erm-b", "train": {"lr": 0.05}}],
                       attacks=[{"id": "sign", "eps": [0.05, 0.1]}])
    reference = run(suite, tmp_path / "ref", testkit)
    from bench.registry import get_registry

    pm = get_registry(testkit).pm

    class Stop:
        seen = 0

        @bench.hookimpl
        def robarena_cell_finished(self, cell, record):
            Stop.seen += 1
            if Stop.seen == 5:
                raise KeyboardInterrupt

    plugin = Stop()
    pm.register(plugin)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(suite, tmp_path / "wd", testkit)
    finally:
        pm.unregister(plugin)
    resumed = run(suite, tmp_path / "wd", testkit)
    assert resumed.cached == 5 and resumed.computed == reference.computed - 5
    key = lambda rows: [(r.row_id, r.clean_accuracy, r.robust, r.ensemble, r.probes) for r in rows]  # noqa: E731
    assert key(resumed.rows) == key(reference.rows)


def test_training_is_deterministic_for_a_seed(tmp_path, testkit):
    a = run(tiny_suite(), tmp_path / "a", testkit)
    b = run(tiny_suite(), tmp_path / "b", testkit)
    assert a.rows[0].artifacts["checkpoint"] == b.rows[0].artifacts["checkpoint"]  # same bytes


def test_bad_input_errors(tmp_path, testkit):
    with pytest.raises(UnknownComponentError, match="Did you mean 'sign'"):
        run(tiny_suite(attacks=[{"id": "sing", "eps": 0.1}]), tmp_path, testkit)
    with pytest.raises(ConfigError, match="stepz: unknown parameter.*Allowed parameters: steps"):
        run(tiny_suite(attacks=[{"id": "sign", "eps": 0.1, "params": {"stepz": 2}}]), tmp_path, testkit)
    with pytest.raises(ConfigError, match="steps: Input should be greater than or equal to 1"):
        run(tiny_suite(attacks=[{"id": "sign", "eps": 0.1, "params": {"steps": 0}}]), tmp_path, testkit)
    with pytest.raises(UsageError, match="eps must be >= 0"):
        run(tiny_suite(attacks=[{"id": "sign", "eps": -0.1}]), tmp_path, testkit)
    with pytest.raises(UsageError, match="distinct labels"):
        run(tiny_suite(defenses=[{"id": "erm"}, {"id": "erm", "train": {"lr": 0.2}}]), tmp_path, testkit)
    assert not (tmp_path / "results.sqlite").exists() or ResultsStore(tmp_path / "results.sqlite").count_cells() == 0


def test_incompatible_cells_are_dropped_with_a_reason(tmp_path, testkit):
    suite = tiny_suite(attacks=[{"id": "escape", "norm": "L2", "eps": 0.5}, {"id": "sign", "eps": 0.1}])
    res = run(suite, tmp_path, testkit)
    assert any("supports ['Linf'], not L2" in why for _, why in res.dropped)
    assert list(res.rows[0].robust) == ["sign Linf 0.1"]


def test_pandas_frame_has_numeric_columns(tmp_path, testkit):
    df = run(tiny_suite(), tmp_path, testkit).to_pandas()
    assert df.shape[0] == 1
    assert df["robust[sign Linf 0.1]"].dtype == np.float64


def test_relabelling_reuses_cells_and_shows_the_new_labels(tmp_path, testkit):
    run(tiny_suite(), tmp_path, testkit)
    relabelled = tiny_suite(defenses=[{"id": "erm", "label": "plain-erm"}])
    res = run(relabelled, tmp_path, testkit)
    assert res.computed == 0
    assert [r.row_id for r in res.rows] == ["digits/tiny-linear/plain-erm/seed0"]
    from bench.runner.results import load_rows

    assert [r.defense for r in load_rows(tmp_path, "tiny")] == ["plain-erm"]


def test_clean_accuracy_without_attacks(tmp_path, testkit):
    res = run(tiny_suite(attacks=[]), tmp_path, testkit)
    assert res.rows[0].clean_accuracy is not None and res.rows[0].robust == {}


def test_duplicate_attack_columns_are_rejected(tmp_path, testkit):
    with pytest.raises(UsageError, match="share the label 'sign'"):
        run(tiny_suite(attacks=[{"id": "sign", "eps": 0.1}, {"id": "sign", "eps": 0.1, "params": {"steps": 2}}]),
            tmp_path, testkit)
    with pytest.raises(UsageError, match="appear twice"):
        run(tiny_suite(attacks=[{"id": "sign", "eps": 0.1}, {"id": "sign", "eps": [0.05, 0.1]}]), tmp_path, testkit)


def test_transfer_attack_is_crafted_on_the_substitute_and_scored_on_the_target(tmp_path, testkit):
    suite = tiny_suite(attacks=[{"id": "sign", "label": "sign-transfer", "eps": 0.1, "params": {"steps": 2},
                                 "substitute": {"model": "tiny-conv", "defense": "erm"}}])
    res = run(suite, tmp_path, testkit)
    assert res.ok, res.failures
    (rec,) = attack_records(tmp_path)
    assert rec["meta"]["substitute"] == "robarena_testkit/tiny-conv trained by robarena_testkit/erm"
    # rebuild the substitute from its cached checkpoint and craft the same examples ourselves
    store = ResultsStore(tmp_path / "results.sqlite")
    (sub_rec,) = [store.get_cell(k) for (k,) in store.conn.execute("SELECT key FROM cells WHERE stage='train'")
                  if "tiny-conv" in store.get_cell(k)["cell_id"]]
    store.close()
    from bench.data.digits import Digits
    from bench.testing.tiny import TinyConv
    from bench.threat import ThreatModel
    from robarena_testkit_impl import SignStep

    cache = ArtifactCache(tmp_path / "cache")
    sub = TinyConv((1, 8, 8), 10)
    sub.load_state_dict(cache.get_tensors(sub_rec["payload"]["checkpoint"]))
    data = Digits(Digits.Config(n_train=300, n_test=60))()
    threat = ThreatModel(norm="Linf", eps=0.1)
    x_adv = torch.cat([SignStep(SignStep.Config(steps=2), seed=s)(sub.eval(), data.x_test[i:i + 32],
                                                                   data.y_test[i:i + 32], threat).x_adv
                       for i, s in ((0, 0), (32, 32))])
    assert torch.equal(cache.get_tensors(rec["payload"]["arrays"])["x_adv"], x_adv)
    assert "robarena_testkit/tiny-conv" in res.rows[0].provenance.specs


def test_timm_model_in_a_suite(tmp_path, testkit):
    suite = tiny_suite(datasets=[{"id": "core/gratings32", "params": {"n_train": 40, "n_test": 8}}],
                       models=[{"id": "timm/resnet10t"}], train={"epochs": 1, "batch_size": 20},
                       eval={"n": 8, "batch_size": 8}, attacks=[{"id": "noise", "eps": "8/255"}])
    res = run(suite, tmp_path, testkit)
    assert res.ok, res.failures
    import timm

    assert res.rows[0].provenance.specs["timm/resnet10t"] == timm.__version__
    assert res.rows[0].provenance.plugins["timm"] == timm.__version__


def test_two_suites_labelling_a_shared_cell_keep_their_own_labels(tmp_path, testkit):
    from bench.runner.results import load_rows

    run(tiny_suite(), tmp_path, testkit)
    run(tiny_suite(name="other", defenses=[{"id": "erm", "label": "erm2"}]), tmp_path, testkit)
    assert [r.defense for r in load_rows(tmp_path, "tiny")] == ["erm"]
    assert [r.defense for r in load_rows(tmp_path, "other")] == ["erm2"]
