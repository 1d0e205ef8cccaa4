"""The P2 transfer suites parse, plan, and carry P2's settings; the plugin registers its specs."""
import pytest

from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite


@pytest.fixture(scope="module")
def registry():
    return get_registry()


def transfer_params(suite) -> dict:
    (task,) = [t for t in suite.tasks if t.id == "infotransfer/transfer"]
    return task.params


def test_specs_are_registered(registry):
    ids = {e.qualified_id for e in registry}
    for kind_id in ("infotransfer/rep-fisher", "infotransfer/weight-norm", "infotransfer/entanglement",
                    "infotransfer/transfer", "infotransfer/p2-cpu", "infotransfer/p2-full"):
        assert kind_id in ids
    assert registry.get("task", "infotransfer/transfer").spec.columns == [
        "near.accuracy", "near.distance", "near.robust_accuracy", "near.class_emd", "far.accuracy", "far.distance",
        "far.robust_accuracy", "far.class_emd"]


def test_p2_full_plans_p2s_protocol(registry):
    suite = resolve_suite("infotransfer/p2-full", registry)
    plan = build_plan(suite, registry)
    assert [d.id for d in suite.datasets] == ["core/cifar10", "core/cifar100"]
    assert [m.id for m in suite.models] == ["classics/wrn-50-2", "classics/preact-resnet18"]
    assert suite.models[0].params["width_per_group"] == 64  # ResNet-50, not WRN-50-2
    robust = [d for d in suite.defenses if d.id == "classics/pgd-at"]
    assert {d.params["norm"] for d in robust} == {"L2"}
    # P2's robust source eps 1 on CIFAR, inside our sweep of values below and above 1 (Figs. 4-6)
    assert [d.params["eps"] for d in robust] == [0.25, 0.5, 1.0, 2.0, 3.0]
    assert all(d.params["step_size"] == pytest.approx(2.5 * d.params["eps"] / 7) and d.params["steps"] == 7
               for d in robust)
    assert {p.id for p in suite.probes} >= {"infotransfer/weight-info", "infotransfer/rep-fisher"}
    assert {t.id for t in suite.tasks} == {"infotransfer/transfer", "infotransfer/inversion"}
    targets = transfer_params(suite)["targets"]
    assert [t["id"] for t in targets] == ["core/cifar10", "core/cifar100", "core/fashion-mnist", "core/mnist",
                                          "core/svhn"]
    assert all(t["params"] == {"size": 32, "channels": 3} for t in targets if "mnist" in t["id"])
    assert len(plan.train_cells) == 2 * 2 * 6 and len(plan.task_cells) == 2 * 24 and not plan.dropped


def test_p2_cpu_plans_three_rows_per_seed_with_four_targets(registry):
    suite = resolve_suite("infotransfer/p2-cpu", registry)
    plan = build_plan(suite, registry)
    assert [d.label for d in suite.defenses] == ["standard", "PGD-AT", "PGD-AT-large"]  # the claims' labels
    assert [d.params.get("eps") for d in suite.defenses] == [None, 4.0, 8.0]
    assert [t["label"] for t in transfer_params(suite)["targets"]] == ["source", "near", "mid", "far"]
    assert {p.id for p in suite.probes} >= {"infotransfer/rep-fisher", "infotransfer/weight-norm",
                                            "infotransfer/entanglement"}
    assert len(plan.train_cells) == 3 * len(suite.seeds) and not plan.dropped
