"""The declared costs (``robarena run --dry-run``) of the recognizability components, pinned against the passes the
code makes (bench.testing.passes.PassCounter) on tiny models and data.

A double backward (a backward through the graph of a ``create_graph`` backward) does not flow back through the
model's output, so the counter does not see it; the declared costs count each as one backward, and the tests
add them to what is counted.
"""
from __future__ import annotations

import pytest
import torch

from bench.api import Cost, DatasetSplits, ProbeInput, TaskInput, TrainConfig, TrainContext
from bench.testing.passes import PassCounter
from bench.testing.tiny import TinyConv, TinyLinear
from robarena_recognizability.defenses.distillation import DefensiveDistillation
from robarena_recognizability.defenses.fisher_penalty import FisherPenalty
from robarena_recognizability.defenses.gradient_penalty import GradientPenalty
from robarena_recognizability.probes.jacobian import JacobianProbe
from robarena_recognizability.tasks import judge as judge_module
from robarena_recognizability.tasks.recognizability import Recognizability, RecognizabilityConfig

CPU = torch.device("cpu")
SHAPE = (1, 8, 8)
N_TRAIN, EPOCHS = 20, 2
TRAIN = TrainConfig(epochs=EPOCHS, batch_size=8, lr=0.01)  # batches of 8, 8, 4: batch norm always has > 1 example


def splits(n_train=N_TRAIN, n_test=6, num_classes=3, seed=0) -> DatasetSplits:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train + n_test, *SHAPE, generator=gen)
    y = torch.arange(n_train + n_test) % num_classes
    return DatasetSplits(x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes,
                         fingerprint=f"cost-test-{seed}-{n_train}-{n_test}")


def train_counted(defense, num_classes=3) -> tuple[Cost, int]:
    """Train ``defense`` on :func:`splits` with every model it builds counted: (passes, models built)."""
    counters: list[PassCounter] = []

    def build():
        model = TinyConv(SHAPE, num_classes)
        counters.append(PassCounter(model))
        return model

    ctx = TrainContext(device=CPU, seed=0, generator=torch.Generator().manual_seed(0))
    defense(build, splits(num_classes=num_classes), ctx)
    for c in counters:
        c.remove()
    return sum((c.cost for c in counters), Cost()), len(counters)


def test_gradient_penalty_cost_is_a_forward_the_input_gradient_a_double_backward_and_the_outer_backward():
    for params in ({}, {"beta": 0.0, "norm": "L2"}):  # the penalty is computed whatever its weight
        defense = GradientPenalty(config=GradientPenalty.Config(**params), train=TRAIN)
        declared = defense.cost(N_TRAIN)
        assert declared == Cost(1, 3) * (EPOCHS * N_TRAIN)
        counted, _ = train_counted(defense)
        assert counted + Cost(0, EPOCHS * N_TRAIN) == declared  # + the double backward, invisible to the counter


@pytest.mark.parametrize("n_proj", [1, 2])
def test_fisher_penalty_cost_counts_each_projection_twice_and_the_outer_backward(n_proj):
    defense = FisherPenalty(config=FisherPenalty.Config(n_proj=n_proj), train=TRAIN)
    declared = defense.cost(N_TRAIN)
    assert declared == Cost(1, 2 * n_proj + 1) * (EPOCHS * N_TRAIN)
    counted, _ = train_counted(defense)
    assert counted + Cost(0, n_proj * EPOCHS * N_TRAIN) == declared  # + n_proj double backwards


def test_distillation_cost_is_two_trainings_and_the_teachers_soft_labels():
    defense = DefensiveDistillation(config=DefensiveDistillation.Config(), train=TRAIN)
    declared = defense.cost(N_TRAIN)
    assert declared == Cost(3, 2) * (EPOCHS * N_TRAIN)
    counted, built = train_counted(defense)
    assert built == 2 and counted == declared  # student and teacher


@pytest.mark.parametrize("config", [{}, {"n_proj": 2, "power_iters": 3, "fd_random": 1, "n": 7}])
def test_jacobian_probe_cost(config):
    x = torch.rand(10, *SHAPE, generator=torch.Generator().manual_seed(1))
    data = ProbeInput(x=x, y=torch.arange(10) % 3, num_classes=3, device=CPU, batch_size=4)
    probe = JacobianProbe(JacobianProbe.Config(**config))
    cfg = probe.config
    model = TinyConv(SHAPE, 3).eval()
    with PassCounter(model) as counted:
        probe.run(model, data, torch.Generator().manual_seed(0))
    m = min(10, cfg.n or 10)
    declared = probe.cost(10, 50)
    assert declared == Cost(6 + cfg.fd_random, 2 * cfg.n_proj + 2 * cfg.power_iters + 2) * m
    # the J v products of the power iteration (power_iters + 1 double backwards) are invisible to the counter
    assert counted.cost + Cost(0, (cfg.power_iters + 1) * m) == declared


def grid_task(**config) -> Recognizability:
    return Recognizability(RecognizabilityConfig(steps=3, starts=2, batch_size=4, **config))


def test_recognizability_cost_with_the_model_as_its_own_judge():
    data = splits(num_classes=3)
    task = grid_task(judge="self")
    model = TinyLinear(SHAPE, 3).eval()
    with PassCounter(model) as counted:
        task.run(model, TaskInput(data=data, device=CPU), torch.Generator().manual_seed(0))
    n_test = data.x_test.shape[0]
    declared = task.cost(n_test, N_TRAIN, num_classes=3)
    assert declared == (Cost.steps(3) + Cost(3, 0)) * (2 * 3) + Cost(n_test, 0)
    assert counted.cost == declared
    assert task.cost(n_test, N_TRAIN) is None  # the columns are the dataset's classes, not told to cost()
    assert grid_task(judge="self", classes=[0, 2]).cost(n_test, N_TRAIN) == \
        (Cost.steps(3) + Cost(3, 0)) * (2 * 2) + Cost(n_test, 0)


def test_recognizability_cost_counts_the_judges_training(monkeypatch):
    import bench.runner.models as models

    judges: list[PassCounter] = []
    build = models.build_registered

    def counted_build(*args, **kwargs):
        judge = build(*args, **kwargs)
        judges.append(PassCounter(judge))
        return judge

    monkeypatch.setattr(models, "build_registered", counted_build)
    judge_module.clear_cache()
    data = splits(num_classes=3, seed=3)
    judge_train = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    task = grid_task(judge="train", judge_model="classics/linear", judge_train=judge_train, classes=[0, 1, 2])
    model = TinyLinear(SHAPE, 3).eval()
    try:
        with PassCounter(model) as counted:
            task.run(model, TaskInput(data=data, device=CPU), torch.Generator().manual_seed(0))
    finally:
        judge_module.clear_cache()
    assert len(judges) == 1
    n_test = data.x_test.shape[0]
    declared = task.cost(n_test, N_TRAIN)
    # classics/standard declares 1 forward + 1 backward per example and epoch
    assert declared == (Cost.steps(3) + Cost(3, 0)) * (2 * 3) + Cost(n_test, 0) + Cost.steps(1 * N_TRAIN)
    assert counted.cost + judges[0].cost == declared
    assert grid_task(judge="checkpoint", judge_checkpoint="judge.safetensors", classes=[0, 1]).cost(n_test, 99) \
        == (Cost.steps(3) + Cost(3, 0)) * (2 * 2) + Cost(n_test, 0)  # a loaded judge is not trained
