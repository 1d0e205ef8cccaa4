"""The plugin's specs and registration, probe conformance, and the P0 suites' contents and plans."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite
from robarena_disentangle import plugin

PROBES = {"cckl", "input-fisher", "g1g2", "fisher-approx", "fisher-split"}


def test_plugin_module_imports_no_torch():
    code = "import sys, robarena_disentangle.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_specs_and_registration():
    specs = plugin.robarena_probes()
    assert {s.name for s in specs} == PROBES
    assert {s.name for s in specs if s.needs_attacks} == {"fisher-approx", "fisher-split"}
    registry = get_registry()
    for spec in specs:
        entry = registry.get("probe", f"disentangle/{spec.name}")
        assert entry.plugin.distribution == "robarena-disentangle" and spec.paper.key == "P0" and spec.summary
        entry.load().Config()
    assert {s.name for s in plugin.robarena_suites()} == {"p0-cpu", "p0-full", "p0-full-resnet"}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probes_conform(robarena_registry, robarena_conformance, name):
    robarena_conformance.check_probe(robarena_registry.get("probe", f"disentangle/{name}"))


def _plan(name):
    registry = get_registry()
    suite = resolve_suite(f"disentangle/{name}", registry)
    return suite, build_plan(suite, registry)


def _p0_attacks(suite, eps):
    """PGD-20 and CW-Linf (the CW margin by the same PGD), step eps / 4 (P0: 2/255 at 8/255), Linf eps."""
    assert [(a.label, a.params["loss"]) for a in suite.attacks] == [("PGD-20", "ce"), ("CW", "cw")]
    for attack in suite.attacks:
        assert attack.id == "classics/pgd" and attack.params["steps"] == 20 and attack.params["random_start"]
        assert attack.params["step_size"] == pytest.approx(eps / 4)
        assert [(t.norm, t.eps) for t in attack.threats()] == [("Linf", pytest.approx(eps))]


def _trades(defense, eps):
    assert defense.id == "classics/trades" and defense.label == "TRADES"
    assert defense.params["beta"] == 5.0 and defense.params["steps"] == 10  # P0 Table 1: 1/lambda = 5
    assert defense.params["step_size"] == pytest.approx(eps / 4)


def test_p0_cpu_suite_is_the_scaled_down_protocol():
    suite, plan = _plan("p0-cpu")
    assert [d.id for d in suite.datasets] == ["core/digits"]
    assert [(m.label, m.params["variant"]) for m in suite.models] == [
        ("vgg13-pure-linear", "pure_linear"), ("vgg13-half-linear", "half_linear"), ("vgg13-normal", "normal")]
    assert [d.label for d in suite.defenses] == ["standard", "PGD-AT", "TRADES"]
    _trades(suite.defenses[2], 0.1)
    pgd_at = suite.defenses[1].params
    assert (pgd_at["eps"], pgd_at["steps"], pgd_at["step_size"]) == (0.1, 10, 0.025)
    _p0_attacks(suite, 0.1)
    assert {p.id.split("/")[1] for p in suite.probes} == PROBES
    approx = next(p for p in suite.probes if p.id == "disentangle/fisher-approx").params["eps"]
    assert approx == pytest.approx([0.1 * k / 8 for k in range(1, 9)])  # P0 Table 2's k/255 scaled to 0.1
    assert (suite.train.weight_decay, suite.eval.n) == (1e-4, 500)
    assert suite.seeds == [0, 1, 2]  # the probe claims compare values without counts: paired t-test over seeds
    assert len(plan.train_cells) == 3 * 9 and len(plan.attack_cells) == 3 * 18 and not plan.dropped
    fisher_cells = [c for c in plan.probe_cells if c.probe.label in ("fisher-approx", "fisher-split")]
    assert len(fisher_cells) == 3 * 18 and all(len(c.attacks) == 2 for c in fisher_cells)
    # Fig. 3 / 8 from one run: CCKL and the input Fisher over training, on every row's own epochs
    epochs = (1, 2, 3, 5, 7, 10)
    assert all(c.keep_epochs == epochs for c in plan.train_cells) and epochs[-1] == suite.train.epochs
    over_training = [(c.train.row_id, c.probe.label, c.epoch) for c in plan.probe_cells if c.epoch is not None]
    assert sorted(over_training) == sorted((t.row_id, p, e) for t in plan.train_cells for p in ("cckl", "input-fisher")
                                           for e in epochs)


@pytest.mark.parametrize("name, models, lr", [
    ("p0-full", [("vgg13-pure-linear", {"variant": "pure_linear"}), ("vgg13-half-linear", {"variant": "half_linear"}),
                 ("vgg13-normal", {"variant": "normal"})], 0.01),
    ("p0-full-resnet", [("resnet20x1", {"depth": 20, "width": 1}), ("resnet32x10", {"depth": 32, "width": 10})], 0.1),
])
def test_full_suites_follow_p0_table_1(name, models, lr):
    """P0 Table 1: TRADES on CIFAR-10, SGD momentum 0.9, wd 1e-4, 160 epochs; lr 0.01 (VGG13), 0.1 (ResNets);
    standard and PGD-AT rows for Fig. 3 / 8, PGD-AT with TRADES's inner maximisation (P0 gives none)."""
    suite, plan = _plan(name)
    assert [d.id for d in suite.datasets] == ["core/cifar10"]
    assert [(m.label, m.params) for m in suite.models] == models
    assert [(d.label, d.id) for d in suite.defenses] == [
        ("standard", "classics/standard"), ("PGD-AT", "classics/pgd-at"), ("TRADES", "classics/trades")]
    _trades(suite.defenses[2], 8 / 255)
    assert suite.defenses[2].params["eps"] == "8/255" and not suite.defenses[0].params
    pgd_at = suite.defenses[1].params
    assert (pgd_at["norm"], pgd_at["eps"], pgd_at["steps"], pgd_at["random_start"]) == ("Linf", "8/255", 10, True)
    assert pgd_at["step_size"] == pytest.approx(2 / 255)
    _p0_attacks(suite, 8 / 255)
    t = suite.train
    assert (t.epochs, t.optimizer, t.lr, t.momentum, t.weight_decay, t.schedule) == (160, "sgd", lr, 0.9, 1e-4, "step")
    assert suite.eval.n == 10_000 and {p.id.split("/")[1] for p in suite.probes} == PROBES
    probes = {p.id.split("/")[1]: p.params for p in suite.probes}
    assert "eps" not in probes["fisher-approx"] and "n_pairs" not in probes["cckl"]  # P0's defaults
    assert len(plan.train_cells) == 3 * len(models) and len(plan.attack_cells) == 6 * len(models) and not plan.dropped
    assert sorted(c.row_id for c in plan.train_cells) == sorted(
        f"cifar10/{label}/{defense}/seed0" for label, _ in models for defense in ("standard", "PGD-AT", "TRADES"))
