"""The P1 suites (parse and plan with P1's settings), the plugin's registrations, and the probes through the runner."""
from __future__ import annotations

import math

import pytest

import bench
from bench.api.claim import ClaimDataMissing
from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite
from bench.threat import ThreatModel
from bench.testing.rows import frame, row
from robarena_margins import claims

P1_EPS = [4 / 255, 8 / 255, 16 / 255]


def plan_of(name: str):
    registry = get_registry()
    suite = resolve_suite(f"margins/{name}", registry)
    return suite, build_plan(suite, registry)


def defense_params(plan, label: str) -> dict:
    return next(c.defense.kwargs for c in plan.train_cells if c.defense.label == label)


def test_p1_probes_through_the_runner_on_a_tiny_suite(tmp_path):
    suite = {
        "name": "p1-tiny",
        "datasets": [{"id": "core/digits", "params": {"n_train": 200, "n_test": 40}}],
        "models": [{"id": "classics/small-cnn"}],
        "defenses": [{"id": "classics/standard"}],
        "attacks": [{"id": "classics/deepfool", "norm": "L2", "eps": 8.0, "params": {"max_iter": 10}}],
        "probes": [{"id": "classics/margin"}, {"id": "margins/confidence"}, {"id": "margins/layer-spectrum"},
                   {"id": "margins/margin-spread"},
                   {"id": "margins/loss-variation", "params": {"eps": [0.05, 0.1], "steps": 2}},
                   {"id": "margins/instance-margin"}],
        "train": {"epochs": 2, "batch_size": 50, "lr": 0.05},
        "eval": {"n": 40, "batch_size": 40},
    }
    result = bench.run(suite, workdir=tmp_path, device="cpu")
    assert result.ok, result.failures
    (row,) = result.rows
    probes = row.probes
    for column in ("confidence.mean_p_y", "confidence.frac_middle", "layer-spectrum.log_spectral_complexity",
                   "layer-spectrum.mean_sv_std", "layer-spectrum.sv_std.body.0", "layer-spectrum.sv_std.head",
                   "loss-variation.mean", "loss-variation.mean@0.05", "loss-variation.std@0.1",
                   "instance-margin.mean", "instance-margin.median", "instance-margin.frac_found",
                   "margin-spread.std", "margin-spread.iqr", "margin-spread.mean_abs"):
        assert column in probes and probes[column] is not None and math.isfinite(probes[column]), column
    assert 0.0 < probes["confidence.mean_p_y"] < 1.0
    assert probes["loss-variation.mean@0.1"] >= probes["loss-variation.mean@0.05"] >= 0.0
    assert 0.0 < probes["instance-margin.frac_found"] <= 1.0 and probes["instance-margin.mean"] > 0.0
    # the frame the claims read carries the per-layer STDs under the names the B.2 helper expects
    frame = result.to_pandas()
    assert "probe[layer-spectrum.sv_std.body.2]" in frame.columns


def test_p1_cpu_plans_the_ar_sweep_the_claims_read():
    suite, plan = plan_of("p1-cpu")
    assert sorted({c.seed for c in plan.train_cells}) == [0, 1, 2]  # the probe claims' paired test
    cells = [c for c in plan.train_cells if c.seed == 0]
    labels = [c.defense.label for c in cells]
    assert labels == ["standard", "PGD-AT 0.05", "PGD-AT 0.1", "PGD-AT 0.2", "FGSM-AT 0.05", "FGSM-AT 0.1",
                      "FGSM-AT 0.2", "SN-1 PGD-AT 0.1"]
    rows = frame([row((c.defense.label, c.defense.qid, c.defense.kwargs), clean=0.5) for c in cells])
    assert [(p.strength, p.name) for p in claims.sweep(rows)] == [
        (0.0, "standard"), (0.05, "PGD-AT 0.05"), (0.1, "PGD-AT 0.1"), (0.2, "PGD-AT 0.2")]
    # P1 B.6's FGSM-AT (margins/fgsm-at) at the PGD-AT strengths: the FGSM claim tests a sweep
    assert [(p.strength, p.name) for p in claims.sweep(rows, claims.FGSM_AT)] == [
        (0.0, "standard"), (0.05, "FGSM-AT 0.05"), (0.1, "FGSM-AT 0.1"), (0.2, "FGSM-AT 0.2")]
    for label in labels[4:7]:
        assert defense_params(plan, label) == {"norm": "Linf", "eps": float(label.split()[-1])}
    assert {c.defense.qid for c in plan.train_cells if c.defense.label.startswith("FGSM")} == {"margins/fgsm-at"}
    assert all(c.train.weight_decay == 0.0 for c in plan.train_cells)  # P1 gives no weight decay
    with pytest.raises(ClaimDataMissing, match="at least two"):  # one spectral-clip model: no sweep of its own
        claims.sweep(rows, claims.spectral_family(1.0), with_standard=False)
    for label in labels[1:4]:  # P1 B.1: 10 steps of a fixed step (2/255 : 8/255 scaled to the middle eps 0.1)
        params = defense_params(plan, label)
        assert (params["steps"], params["step_size"], params["eps"]) == (10, 0.025, float(label.split()[-1]))
    assert defense_params(plan, "SN-1 PGD-AT 0.1")["bound"] == 1.0
    columns = {a.column for a in plan.attack_cells}
    assert columns == {"PGD-10 Linf 0.1", "deepfool L2 8"}
    probes = {p.probe.qid for p in plan.probe_cells}
    assert probes >= {"classics/margin", "classics/generalization", "margins/confidence", "margins/layer-spectrum",
                      "margins/margin-spread",
                      "margins/loss-variation", "margins/instance-margin"}
    instance = [p for p in plan.probe_cells if p.probe.qid == "margins/instance-margin"]
    assert all("deepfool L2 8" in {a.column for a in p.attacks} for p in instance)


def test_p1_full_is_tables_3_and_4():
    suite, plan = plan_of("p1-full")
    assert [d.id for d in suite.datasets] == ["core/cifar10", "core/cifar100"]
    assert [(m.id, m.params["depth"]) for m in suite.models] == [("classics/fixup-resnet", 56),
                                                                ("classics/fixup-resnet", 110)]
    assert len(plan.train_cells) == 2 * 2 * 4
    pgd_at = [c for c in plan.train_cells if c.defense.qid == "classics/pgd-at"]
    assert sorted({c.defense.kwargs["eps"] for c in pgd_at}) == pytest.approx(P1_EPS)
    assert {(c.defense.kwargs["steps"], c.defense.kwargs["step_size"]) for c in pgd_at} == {(10, 2 / 255)}
    train = plan.train_cells[0].train  # P1 D.3: batch 256, 200 epochs, lr 0.05, momentum 0.9, crop + flip
    assert (train.epochs, train.batch_size, train.lr, train.momentum) == (200, 256, 0.05, 0.9)
    assert set(train.augment) == {"crop", "flip"} and train.crop_padding == 4
    assert train.weight_decay == 0.0  # P1 gives none (the 5e-4 variant is p1-full-wd)
    _p1_evaluation(plan, deepfool=True)
    assert {"margins/instance-margin", "margins/margin-spread"} <= {p.probe.qid for p in plan.probe_cells}


def test_p1_full_wd_is_p1_full_with_weight_decay_5e4_only():
    full, full_plan = plan_of("p1-full")
    wd, wd_plan = plan_of("p1-full-wd")
    assert wd_plan.train_cells[0].train.weight_decay == 5e-4
    assert wd_plan.train_cells[0].train.model_copy(update={"weight_decay": 0.0}) == full_plan.train_cells[0].train
    assert [(c.dataset.qid, c.model.kwargs, c.defense.qid, c.defense.kwargs) for c in wd_plan.train_cells] == [
        (c.dataset.qid, c.model.kwargs, c.defense.qid, c.defense.kwargs) for c in full_plan.train_cells]
    assert {a.column for a in wd_plan.attack_cells} == {a.column for a in full_plan.attack_cells}
    assert {p.probe.qid for p in wd_plan.probe_cells} == {p.probe.qid for p in full_plan.probe_cells}


def _p1_evaluation(plan, deepfool: bool = False):
    """P1 D.2: PGD, 10 steps of 2/255 at eps 8/255, counted on clean-correct points (the claims' ratio)."""
    pgd = {a.attack.qid: a for a in plan.attack_cells if a.attack.qid == "classics/pgd"}["classics/pgd"]
    assert pgd.threat == ThreatModel(norm="Linf", eps=8 / 255)
    assert (pgd.attack.kwargs["steps"], pgd.attack.kwargs["step_size"]) == (10, 2 / 255)
    assert pgd.column.startswith("PGD")
    assert deepfool == any(a.attack.qid == "classics/deepfool" and a.threat.norm == "L2" for a in plan.attack_cells)
    assert {p.probe.qid for p in plan.probe_cells} >= {"classics/margin", "classics/generalization",
                                                       "margins/layer-spectrum"}


def test_p1_full_tiny_is_table_5():
    suite, plan = plan_of("p1-full-tiny")
    assert [(d.id, d.params.get("crop")) for d in suite.datasets] == [("core/tiny-imagenet", 56)]
    assert [m.id for m in suite.models] == ["classics/wrn-50-2"]
    assert [c.defense.label for c in plan.train_cells] == ["standard", "PGD-AT 4", "PGD-AT 8", "PGD-AT 16"]
    train = plan.train_cells[0].train  # P1 D.2: batch 256, 90 epochs, lr 0.1, momentum 0.9
    assert (train.epochs, train.batch_size, train.lr, train.momentum) == (90, 256, 0.1, 0.9)
    # P1 D.1: 56x56 random crops with scale and aspect-ratio jitter (torchvision's RandomResizedCrop
    # ranges, P1 gives none), no flip named; no weight decay (P1 gives none)
    assert train.augment == ["resized_crop"] and train.weight_decay == 0.0
    assert train.resized_crop_scale == (0.08, 1.0) and train.resized_crop_ratio == pytest.approx((3 / 4, 4 / 3))
    _p1_evaluation(plan)


def test_p1_full_sn_is_table_6():
    suite, plan = plan_of("p1-full-sn")
    assert [d.id for d in suite.datasets] == ["core/cifar10"]
    assert [(m.id, m.params["depth"]) for m in suite.models] == [("classics/fixup-resnet", 56)]
    cells = {c.defense.label: c.defense for c in plan.train_cells}
    assert len(cells) == 12
    for bound in (1, 3, 5):
        for k, eps in zip((4, 8, 16), P1_EPS):
            d = cells[f"SN-{bound} PGD-AT {k}"]
            assert d.qid == "margins/spectral-clip" and d.kwargs["bound"] == bound
            assert d.kwargs["eps"] == pytest.approx(eps) and d.kwargs["base"] == "pgd-at"
    assert {cells[f"PGD-AT {k}"].qid for k in (4, 8, 16)} == {"classics/pgd-at"}  # "SP uncontrolled"
    assert plan.train_cells[0].train.weight_decay == 0.0  # P1 D.3 gives none
    _p1_evaluation(plan)


def test_p1_full_fgsm_is_table_2():
    suite, plan = plan_of("p1-full-fgsm")
    assert [d.id for d in suite.datasets] == ["core/cifar10", "core/cifar100"]
    fgsm = [c.defense for c in plan.train_cells]
    # P1 B.6: PGD-AT's setting with PGD replaced by FGSM (not Wong et al.'s classics/fast-at)
    assert {d.qid for d in fgsm} == {"margins/fgsm-at"}
    assert sorted(d.kwargs["eps"] for d in fgsm[:3]) == pytest.approx(P1_EPS)
    assert all(d.kwargs["norm"] == "Linf" for d in fgsm)
    assert plan.train_cells[0].train.weight_decay == 0.0
    _p1_evaluation(plan)


def test_claims_are_registered_for_the_p1_suites():
    registry = get_registry()
    names = {e.qualified_id: e for e in registry.entries("claim") if e.plugin.name == "margins"}
    assert "margins/p1-cpu.loss-gap-shrinks" in names and "margins/p1-full-sn.spectral-clip-lowers-loss-gap" in names
    for entry in names.values():
        assert callable(entry.load()) and entry.spec.paper.key == "P1"
        assert entry.spec.suite.startswith("p1-")
        resolve_suite(f"margins/{entry.spec.suite}", registry)  # every claim's suite exists
