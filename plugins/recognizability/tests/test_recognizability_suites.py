"""The p3-cpu and p3-full suites parse and plan with P3's settings (Sec. 4.1)."""
from __future__ import annotations

import pytest

from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite

P3_LINE_UP = ["standard", "pgd-at", "trades-b6", "trades-b10000", "fast-at", "gradient-penalty", "fisher-penalty",
              "distillation"]


def label(ref) -> str:
    return ref.label or ref.id.split("/")[1]


def params_of(suite, registry, name: str):
    ref = next(d for d in suite.defenses if label(d) == name)
    return registry.get("defense", ref.id).load().Config(**ref.params)


def test_p3_cpu_reuses_the_defenses_suite_and_runs_p3s_profile_attack():
    registry = get_registry()
    suite = resolve_suite("recognizability/p3-cpu", registry)
    defenses = resolve_suite("recognizability/defenses", registry)
    # the same nine models, trained the same way (shared training cells)
    assert [(d.id, d.label, d.params, d.train) for d in suite.defenses] == \
        [(d.id, d.label, d.params, d.train) for d in defenses.defenses]
    assert suite.train == defenses.train and suite.datasets == defenses.datasets and suite.models == defenses.models
    profile = next(a for a in suite.attacks if a.label == "profile")
    assert profile.id == "classics/pgd" and profile.params["steps"] == 50 and profile.params["restarts"] == 10
    assert profile.params["step_size"] == pytest.approx(2 / 255) and profile.params["random_start"]
    assert [t.eps for t in profile.threats()] == [0.05, 0.1, 0.15, 0.2]  # 0.2 = 51/255: P3's 50/255
    cw = next(a for a in suite.attacks if a.label == "profile-cw")
    assert cw.params["loss"] == "cw" and [t.eps for t in cw.threats()] == [0.1]
    assert [p.id for p in suite.probes] == ["recognizability/jacobian"]
    (task,) = suite.tasks
    config = registry.get("task", task.id).load().Config(**task.params)
    assert config.steps == 512 and config.step_size == pytest.approx(2 / 255) and config.starts == 10
    assert config.judge == "train" and config.judge_train == suite.train and config.judge_seed not in suite.seeds
    plan = build_plan(suite, registry)
    assert suite.seeds == [0, 1, 2] and len(plan.train_cells) == 9 * 3 and not plan.dropped
    jacobian = [c for c in plan.probe_cells if c.probe.qid == "recognizability/jacobian"]
    assert len(plan.attack_cells) == 3 * 9 * 5 and len(jacobian) == 3 * 9 and len(plan.task_cells) == 3 * 9


def test_p3_full_has_p3s_budget_line_up_and_protocol():
    registry = get_registry()
    suite = resolve_suite("recognizability/p3-full", registry)
    assert [d.id for d in suite.datasets] == ["core/cifar10"]
    assert [m.id for m in suite.models] == ["classics/preact-resnet18"]
    train = suite.train
    assert (train.epochs, train.batch_size, train.optimizer, train.lr, train.momentum, train.weight_decay,
            train.schedule) == (15, 128, "sgd", 0.2, 0.9, 2e-4, "cyclic")
    assert train.augment == ["crop", "flip"]
    assert [label(d) for d in suite.defenses] == P3_LINE_UP
    assert all(not d.train for d in suite.defenses)  # one budget for all, as P3
    eps = 8 / 255
    pgd = params_of(suite, registry, "pgd-at")
    assert (pgd.eps, pgd.steps, pgd.step_size) == pytest.approx((eps, 7, 2 / 255))
    for name, beta in (("trades-b6", 6.0), ("trades-b10000", 10000.0)):
        trades = params_of(suite, registry, name)
        assert (trades.beta, trades.eps, trades.steps) == pytest.approx((beta, eps, 7))
    assert params_of(suite, registry, "fast-at").eps == pytest.approx(eps)
    gp = params_of(suite, registry, "gradient-penalty")
    assert (gp.beta, gp.eps, gp.norm) == (64.0, pytest.approx(eps), "Linf")
    fp = params_of(suite, registry, "fisher-penalty")
    assert (fp.beta, fp.eps) == (1.0, pytest.approx(eps))
    assert params_of(suite, registry, "distillation").temperature == 100.0
    profile = next(a for a in suite.attacks if a.label == "profile")
    assert (profile.params["steps"], profile.params["restarts"]) == (50, 10)
    assert profile.params["step_size"] == pytest.approx(2 / 255)
    assert [t.eps for t in profile.threats()] == pytest.approx([k / 255 for k in range(5, 55, 5)])
    (task,) = suite.tasks
    config = registry.get("task", task.id).load().Config(**task.params)
    # the judge is of another architecture than the attacked models (transfer would inflate its score)
    assert config.steps == 2048 and config.judge_model == "classics/resnet-cifar"
    assert all(m.id != config.judge_model for m in suite.models) and suite.seeds == [0, 1, 2]
    assert config.judge_train == train
    assert suite.eval.n == 10000
    plan = build_plan(suite, registry)
    assert len(plan.train_cells) == 3 * 8 and not plan.dropped
    assert len(plan.attack_cells) == 3 * 8 * 11 and len(plan.task_cells) == 3 * 8
