"""TRADES: the KL term against a direct computation, the inner maximisation, beta = 0 is standard training."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.api import TrainConfig
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from bench.testing.tiny import TinyConv
from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, tiny_mlp, train_context
from robarena_classics.defenses.standard import Standard
from robarena_classics.defenses.trades import (TRADES, TRADESConfig, kl_divergence, trades_inner_max, trades_loss,
                                               trades_objective)


def test_defaults_are_the_papers():
    cfg = TRADESConfig()
    assert (cfg.beta, cfg.norm, cfg.steps, cfg.init_std) == (6.0, "Linf", 10, 0.001)
    assert cfg.eps == 8 / 255 and cfg.absolute_step() == 2 / 255
    assert TRADESConfig(eps="8/255").eps == 8 / 255
    assert TRADESConfig(step_size=None, eps=0.1, steps=5).absolute_step() == 2.5 * 0.1 / 5


def test_kl_matches_a_direct_float64_computation():
    g = generator(0)
    a, b = torch.randn(7, 5, generator=g, dtype=torch.float64) * 3, torch.randn(7, 5, generator=g, dtype=torch.float64)
    p = a.exp() / a.exp().sum(1, keepdim=True)
    q = b.exp() / b.exp().sum(1, keepdim=True)
    direct = torch.tensor([sum(float(p[i, k]) * math.log(float(p[i, k]) / float(q[i, k])) for k in range(5))
                           for i in range(7)], dtype=torch.float64)
    torch.testing.assert_close(kl_divergence(a, b), direct, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kl_divergence(a, a + 4.0), torch.zeros(7, dtype=torch.float64))  # shift-invariant
    y = torch.randint(0, 5, (7,), generator=g)
    expected = -torch.log(p[torch.arange(7), y]).mean() + 6.0 * direct.mean()
    torch.testing.assert_close(trades_objective(a, b, y, 6.0), expected, rtol=1e-12, atol=1e-12)


class ModeRecorder(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.modes: list[bool] = []

    def forward(self, x):
        self.modes.append(self.training)
        return self.inner(x)


def test_inner_max_stays_in_the_ball_and_raises_the_kl_far_above_the_start():
    model = tiny_mlp((1, 4, 4), 4, seed=3)
    x = interior_inputs(16)
    threat = ThreatModel(norm="Linf", eps=0.1)
    x_adv = trades_inner_max(model, x, threat, steps=10, step_size=0.025, init_std=0.001, generator=generator(1))
    assert not bool(threat.violations(x_adv, x).any())
    start = x + 0.001 * torch.randn(x.shape, generator=generator(1))  # the same draw the attack makes first
    with torch.no_grad():
        kl_start = kl_divergence(model(x), model(start)).mean()
        kl_end = kl_divergence(model(x), model(x_adv)).mean()
    assert kl_start < 1e-4 and kl_end > 100 * kl_start
    assert all(p.grad is None for p in model.parameters())


def test_loss_crafts_in_eval_mode_and_equals_the_objective_on_the_same_examples():
    torch.manual_seed(0)
    model = ModeRecorder(tiny_mlp((1, 4, 4), 4, seed=5)).train()
    x, y = interior_inputs(8), torch.arange(8) % 4
    cfg = TRADESConfig(beta=6.0, eps=0.1, steps=3, step_size=0.04)
    loss = trades_loss(model, x, y, train_context(7), cfg)
    # 1 clean reference + 3 steps in eval mode, then clean and adversarial forwards in train mode
    assert model.modes == [False] * 4 + [True, True] and model.training
    x_adv = trades_inner_max(model, x, cfg.threat(), steps=3, step_size=0.04, init_std=0.001,
                             generator=generator(7))
    torch.testing.assert_close(loss, trades_objective(model(x), model(x_adv), y, 6.0))


def test_beta_zero_is_exactly_standard_training():
    from bench.data.digits import Digits

    data = Digits(Digits.Config(n_train=96, n_test=8))()
    train = TrainConfig(epochs=2, batch_size=32, lr=0.1)

    def fit(defense):
        return defense(lambda: TinyConv(data.shape, data.num_classes), data, train_context(3))

    trades = fit(TRADES(TRADESConfig(beta=0.0), train))
    standard = fit(Standard(train=train))
    for (k, a), b in zip(trades.state_dict().items(), standard.state_dict().values()):
        assert torch.equal(a, b), k
    x, y = data.x_train[:16], data.y_train[:16]
    assert torch.equal(trades_loss(trades.train(), x, y, train_context(0), TRADESConfig(beta=0.0)),
                       F.cross_entropy(trades(x), y))


def test_conformance():
    check_defense(get_registry().get("defense", "classics/trades"))
