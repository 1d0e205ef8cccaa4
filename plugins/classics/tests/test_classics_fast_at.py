"""Fast FGSM adversarial training: random start in the ball, step 1.25 eps, the collapse rollback."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.api import TrainConfig
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from bench.testing.tiny import TinyConv
from classics_helpers import generator, interior_inputs, linear_model, train_context
from robarena_classics.attacks.core import random_start
from robarena_classics.defenses import fast_at
from robarena_classics.defenses.fast_at import CollapseMonitor, FastAT, FastATConfig, fgsm_rs_examples


def test_defaults_are_wong_et_al():
    cfg = FastATConfig()
    assert cfg.norm == "Linf" and cfg.eps == 8 / 255
    assert cfg.absolute_step() == 1.25 * cfg.eps == 10 / 255
    assert FastATConfig(eps=0.1).absolute_step() == 1.25 * 0.1
    assert (cfg.early_stop, cfg.check_steps, cfg.check_drop) == (True, 5, 0.2)
    assert cfg.check_step_size is None and cfg.absolute_check_step() == 2 / 255  # eps / 4: Wong et al.'s value
    assert FastATConfig(eps="16/255").absolute_check_step() == 4 / 255          # scales with eps
    assert FastATConfig(norm="L2", eps=0.5).absolute_check_step() == 2.5 * 0.5 / 5


def test_random_start_is_in_the_ball_and_the_step_is_1_25_eps_along_the_gradient_sign():
    """Affine model: grad_x CE = W^T (softmax(z) - e_y), so the FGSM direction is known exactly."""
    model = linear_model(3)
    x, y = interior_inputs(64, lo=0.2, hi=0.8), torch.arange(64) % 3
    cfg = FastATConfig(eps=0.1)
    threat = cfg.threat()
    x0 = random_start(x, threat, generator(4))  # the start the defense draws from the same stream
    delta0 = x0 - x
    assert float(delta0.abs().max()) <= 0.1 and float(delta0.abs().max()) > 0.09  # fills the ball
    assert abs(float(delta0.mean())) < 0.01  # uniform, centred
    w = model.head.weight  # (3, 16)
    with torch.no_grad():
        p = F.softmax(model(x0), dim=1)
        grad = ((p - F.one_hot(y, 3)) @ w).view_as(x)
    expected = x + (delta0 + 0.125 * grad.sign()).clamp(-0.1, 0.1)
    got = fgsm_rs_examples(model, x, y, threat, cfg.absolute_step(), generator(4))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert not bool(threat.violations(got, x).any())


def test_collapse_monitor_follows_wong_et_al():
    mon = CollapseMonitor(0.2)
    states = [{"w": torch.tensor([float(i)])} for i in range(4)]
    assert not mon.update(0.05, states[0])  # first check compares with 0: never a collapse
    assert not mon.update(0.40, states[1])
    assert not mon.update(0.25, states[2])  # a drop of 0.15 is tolerated
    assert mon.update(0.04, states[3])      # a drop of 0.21 is a collapse
    assert mon.stopped and torch.equal(mon.best["w"], states[2]["w"])


def test_collapse_rolls_back_to_the_previous_epoch_and_freezes_training(monkeypatch):
    from bench.data.digits import Digits

    data = Digits(Digits.Config(n_train=64, n_test=8))()
    seen: list[dict] = []
    scripted = iter([0.5, 0.6, 0.1, 0.9])  # collapse at the third check (epoch index 2)

    def fake_check(model, x, y, config, gen):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return next(scripted)

    monkeypatch.setattr(fast_at, "check_accuracy", fake_check)
    ctx = train_context(0)
    defense = FastAT(FastATConfig(eps=0.1), TrainConfig(epochs=4, batch_size=32, lr=0.1))
    model = defense(lambda: TinyConv(data.shape, data.num_classes), data, ctx)
    assert len(seen) == 3, "no check after the stop"
    assert ctx.log["stopped_epoch"] == 2 and ctx.log["check_robust_acc"] == [0.5, 0.6, 0.1]
    final = model.state_dict()
    for k, v in seen[1].items():  # the state at the end of epoch 1, the last one before the collapse
        assert torch.equal(final[k], v), k
    assert any(not torch.equal(final[k], v) for k, v in seen[2].items())


def test_conformance():
    check_defense(get_registry().get("defense", "classics/fast-at"))
