"""Evaluation-pipeline costs (issue: performance): the AutoAttack cascade against running every
member on every example, PGD-AT training throughput against standard training, and the
runner's overhead per cell against doing the same work by hand. Run (docs/performance.md):

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \\
        python -m pytest tests/benchmarks/test_pipeline_perf.py -m perf --benchmark-autosave
"""
from __future__ import annotations

import time

import pytest
import torch

from bench.threat import ThreatModel

pytestmark = pytest.mark.perf

AA_N = 64  # examples in the AutoAttack comparison (the naive run attacks every one with every member)


def robust_mask(model, x_adv, y):
    with torch.no_grad():
        return model(x_adv).argmax(1) == y


# --------------------------------------------------------------------------- AutoAttack cascade
def autoattack_cascade(model, x, y, threat):
    from robarena_classics.attacks.autoattack import AutoAttack

    return robust_mask(model, AutoAttack(seed=0)(model, x, y, threat).x_adv, y)


def autoattack_every_member_on_every_example(model, x, y, threat):
    """The naive ensemble: each standard member on the full batch, worst case taken afterwards."""
    from robarena_classics.attacks.autoattack import AutoAttack

    robust = robust_mask(model, x, y)
    for _, attack in AutoAttack(seed=0).members():
        robust &= robust_mask(model, attack(model, x, y, threat).x_adv, y)
    return robust


def autoattack_torchattacks(model, x, y, threat):
    """torchattacks' ports of the four standard members at the published budgets, as a cascade
    (its MultiAttack). Its own ``AutoAttack`` class keeps the members' default 10 iterations
    (100 published) and so does a tenth of the APGD and FAB work."""
    from benchmark_helpers import reference_library

    ta = reference_library()
    members = [ta.APGD(model, eps=threat.eps, steps=100, n_restarts=1, loss="ce", seed=0),
               ta.APGDT(model, eps=threat.eps, steps=100, n_restarts=1, n_classes=10, seed=0),
               ta.FAB(model, eps=threat.eps, steps=100, n_restarts=1, multi_targeted=True, n_classes=10, seed=0),
               ta.Square(model, eps=threat.eps, n_queries=5000, n_restarts=1, seed=0)]
    return robust_mask(model, ta.MultiAttack(members)(x, y), y)


@pytest.mark.parametrize("impl", ["naive", "cascade", "torchattacks"])
def test_autoattack_standard(benchmark, digits_cnn, impl):
    """Standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square at published budgets), digits CNN."""
    model, x, y, threat = digits_cnn
    x, y = x[:AA_N], y[:AA_N]
    benchmark.group = "autoattack-digits"
    fn = {"naive": autoattack_every_member_on_every_example, "cascade": autoattack_cascade,
          "torchattacks": autoattack_torchattacks}[impl]
    robust = benchmark.pedantic(fn, args=(model, x, y, threat), rounds=1, iterations=1)
    benchmark.extra_info["robust_acc"] = round(float(robust.double().mean()), 4)


# --------------------------------------------------------------------------- training throughput
@pytest.fixture(scope="module")
def digits_data():
    from bench.data.digits import Digits

    return Digits()()


def one_epoch(defense_cls, config, data):
    from bench.api.defense import TrainContext
    from bench.config import TrainConfig
    from robarena_classics.models.small_cnn import SmallCNN

    train = TrainConfig(epochs=1, batch_size=64, lr=0.05)
    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    impl = defense_cls(config=config, train=train) if config is not None else defense_cls(train=train)
    impl(lambda: SmallCNN(data.shape, data.num_classes), data, ctx)


@pytest.mark.parametrize("recipe", ["standard (floor)", "pgd-at 10 steps", "trades 10 steps", "fast-at"])
def test_training_epoch(benchmark, digits_data, recipe):
    """One epoch on the 1,297 training digits, SmallCNN, batch 64; base: standard training."""
    from robarena_classics.defenses.fast_at import FastAT
    from robarena_classics.defenses.pgd_at import PGDAT
    from robarena_classics.defenses.standard import Standard
    from robarena_classics.defenses.trades import TRADES

    cls, cfg = {"standard (floor)": (Standard, None),
                "pgd-at 10 steps": (PGDAT, PGDAT.Config(eps=0.1, steps=10, step_size=0.02)),
                "trades 10 steps": (TRADES, TRADES.Config(eps=0.1, steps=10, step_size=0.02)),
                "fast-at": (FastAT, FastAT.Config(eps=0.1))}[recipe]
    benchmark.group = "train-epoch-digits"
    benchmark.pedantic(one_epoch, args=(cls, cfg, digits_data), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = round(len(digits_data.y_train) / benchmark.stats.stats.mean, 1)


# --------------------------------------------------------------------------- runner overhead per cell
EPS = [round(0.01 * k, 2) for k in range(1, 21)]  # 20 attack cells
SUITE = {"name": "overhead", "datasets": [{"id": "core/digits"}], "models": [{"id": "classics/linear"}],
         "defenses": [{"id": "classics/standard"}], "attacks": [{"id": "classics/fgsm", "eps": EPS}],
         "train": {"epochs": 1, "batch_size": 64, "lr": 0.1}, "eval": {"n": 500, "batch_size": 256},
         "integrity": False}


def by_hand(data):
    """The suite's work without the runner: train, clean pass, 20 FGSM runs, scoring."""
    from bench.api.defense import TrainContext
    from bench.config import TrainConfig
    from robarena_classics.attacks.fgsm import FGSM
    from robarena_classics.defenses.standard import Standard
    from robarena_classics.models.linear import LinearClassifier

    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    model = Standard(train=TrainConfig(epochs=1, batch_size=64, lr=0.1))(
        lambda: LinearClassifier(data.shape, data.num_classes), data, ctx)
    x, y = data.x_test[:500], data.y_test[:500]
    clean = robust_mask(model, x, y)
    for eps in EPS:
        out = [FGSM(seed=0)(model, x[i:i + 256], y[i:i + 256], ThreatModel(norm="Linf", eps=eps)).x_adv
               for i in range(0, 500, 256)]
        robust_mask(model, torch.cat(out), y) & clean


def through_the_runner(tmp_path_factory):
    import bench

    result = bench.run(SUITE, workdir=tmp_path_factory.mktemp("overhead"), device="cpu")
    assert result.ok and result.computed == len(EPS) + 2


@pytest.mark.parametrize("impl", ["by hand (floor)", "runner, cold cache"])
def test_runner_overhead(benchmark, digits_data, tmp_path_factory, impl):
    """22 cells (train, clean, 20 FGSM eps); overhead per cell = (runner - by hand) / 22."""
    benchmark.group = "runner-overhead"
    if impl.startswith("by hand"):
        benchmark.pedantic(by_hand, args=(digits_data,), rounds=3, iterations=1, warmup_rounds=1)
    else:
        benchmark.pedantic(through_the_runner, args=(tmp_path_factory,), rounds=3, iterations=1, warmup_rounds=1)
