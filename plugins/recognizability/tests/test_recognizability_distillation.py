"""Defensive distillation: soft labels at tau, the distillation loss, and the teacher/student pipeline."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.api import TrainConfig, TrainContext
from bench.errors import UsageError
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from bench.testing.tiny import TinyConv
from robarena_recognizability.defenses import distillation
from robarena_recognizability.defenses.distillation import (DefensiveDistillation, DistillationConfig,
                                                            distillation_loss, soft_labels)


def ctx(seed=0):
    return TrainContext(device=torch.device("cpu"), seed=seed, generator=torch.Generator().manual_seed(seed))


def test_default_temperature_is_p3s():
    assert DistillationConfig().temperature == 100.0


def test_soft_labels_are_the_teachers_softmax_at_temperature_tau():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        teacher = TinyConv((1, 8, 8), 10).eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = teacher(x).double() * 40.0  # large logits, as a trained teacher has
    teacher_scaled = lambda v: teacher(v) * 40.0  # noqa: E731
    for tau in (1.0, 20.0, 100.0):
        expected = torch.exp(z / tau) / torch.exp(z / tau).sum(1, keepdim=True)
        got = soft_labels(teacher_scaled, x, tau)
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-7)
        assert not got.requires_grad
    # higher temperature = flatter labels (larger entropy)
    ent = [float(-(p * p.log()).sum(1).mean()) for p in (soft_labels(teacher_scaled, x, t) for t in (1., 20., 100.))]
    assert ent[0] < ent[1] < ent[2] <= float(torch.log(torch.tensor(10.0))) + 1e-6


def test_distillation_loss_gradient_is_the_soft_label_residual_over_tau():
    """d/dz of -sum_k s_k log softmax(z / tau)_k is (softmax(z / tau) - s) / tau (per example, / N)."""
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(5, 4, generator=g, dtype=torch.float64) * 30).requires_grad_(True)
    s = F.softmax(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    (grad,) = torch.autograd.grad(distillation_loss(z, s, 100.0), z)
    torch.testing.assert_close(grad, (F.softmax(z.detach() / 100.0, 1) - s) / 100.0 / 5)
    # the student that reproduces the teacher's tempered distribution is a stationary point
    teacher_logits = torch.randn(5, 4, generator=g, dtype=torch.float64)
    z2 = (teacher_logits + 3.0).requires_grad_(True)  # same softmax, shifted logits
    (grad2,) = torch.autograd.grad(distillation_loss(z2, F.softmax(teacher_logits / 100.0, 1), 100.0), z2)
    torch.testing.assert_close(grad2, torch.zeros_like(grad2), rtol=0, atol=1e-15)


def test_student_learns_from_a_separately_built_teacher_at_the_same_temperature(monkeypatch):
    from bench.data.digits import Digits

    data = Digits(Digits.Config(n_train=64, n_test=8))()
    calls = []

    def recording(teacher, x, tau):
        calls.append((teacher, teacher.training, tau))
        return soft_labels(teacher, x, tau)

    monkeypatch.setattr(distillation, "soft_labels", recording)
    c = ctx()
    built = []

    def build():
        built.append(TinyConv(data.shape, data.num_classes))
        return built[-1]

    student = DefensiveDistillation(DistillationConfig(temperature=50.0),
                                    TrainConfig(epochs=2, batch_size=32))(build, data, c)
    assert len(built) == 2 and student is built[0]  # the teacher is a second, fresh instance
    teacher = built[1]
    assert len(calls) == 4 and all(t is teacher and not training and tau == 50.0 for t, training, tau in calls)
    assert len(c.log["teacher_train_loss"]) == 2 and len(c.log["train_loss"]) == 2
    assert type(student) is TinyConv  # deployed at temperature 1: the bare architecture's logits


def test_fit_without_build_model_is_a_clear_error():
    from bench.data.digits import Digits

    data = Digits(Digits.Config(n_train=16, n_test=4))()
    with pytest.raises(UsageError, match="build_model"):
        DefensiveDistillation().fit(TinyConv(data.shape, 10), data, ctx())


def test_conformance():
    check_defense(get_registry().get("defense", "recognizability/distillation"))
