"""Declared compute costs (``cost`` hooks, ``robarena run --dry-run``) against hand-counted passes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import Cost, ProbeInput, TrainConfig
from bench.api.probe import AttackRecord
from bench.testing.passes import PassCounter
from bench.threat import ThreatModel
from robarena_classics.attacks.apgd import APGDCE, APGDDLR, APGDT
from robarena_classics.attacks.autoattack import AutoAttack
from robarena_classics.attacks.cw import CWL2
from robarena_classics.attacks.deepfool import DeepFool
from robarena_classics.attacks.eot import PGDEOT
from robarena_classics.attacks.fab import FAB, FABTargeted
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.pgd import PGD
from robarena_classics.attacks.pgd_unbounded import CHUNK, UnboundedPGD
from robarena_classics.attacks.square import Square
from robarena_classics.defenses.fast_at import FastAT
from robarena_classics.defenses.pgd_at import PGDAT
from robarena_classics.defenses.standard import Standard
from robarena_classics.defenses.trades import TRADES
from robarena_classics.probes.generalization import GeneralizationProbe
from robarena_classics.probes.integrity import IntegrityProbe
from robarena_classics.probes.margin import MarginProbe

LINF = ThreatModel(norm="Linf", eps=8 / 255)


def test_training_costs():
    train = TrainConfig(epochs=3, batch_size=64)
    assert Standard(train=train).cost(100) == Cost(300, 300)
    assert PGDAT(PGDAT.Config(steps=7), train=train).cost(100) == Cost(8 * 300, 8 * 300)
    # TRADES: 1 target forward + 10 ascent steps + 2 outer forwards; 10 + 2 backwards
    assert TRADES(TRADES.Config(steps=10), train=train).cost(100) == Cost(13 * 300, 12 * 300)
    assert TRADES(TRADES.Config(beta=0.0), train=train).cost(100) == Cost(300, 300)  # plain cross-entropy
    # FGSM step + loss: 2 F+B per example and epoch; the check: 5 PGD steps + 1 scoring forward on the first
    # minibatch (64 examples) of each of the 3 epochs
    assert FastAT(FastAT.Config(check_steps=5), train=train).cost(100) == Cost(600 + 6 * 192, 600 + 5 * 192)
    assert FastAT(FastAT.Config(early_stop=False), train=train).cost(100) == Cost(600, 600)
    assert FastAT(FastAT.Config(check_steps=5), train=train).cost(10) == Cost(60 + 6 * 30, 60 + 5 * 30)


def test_attack_costs_per_example():
    assert PGD(PGD.Config(steps=7, restarts=3)).cost(LINF) == Cost(3 * 8, 3 * 7)
    assert FGSM().cost(LINF) == Cost(1, 1)


# --------------------------------------------------------------------------- declared costs against counted passes

L2 = ThreatModel(norm="L2", eps=0.5)
UNBOUNDED = ThreatModel(norm="unbounded")
N = 3


class Stubborn(nn.Module):
    """Class 0 wins by ~50 logits anywhere in the box, yet the logits depend (slightly) on the input:
    every gradient exists and no attack ever succeeds, so nothing stops early."""

    def __init__(self, d: int = 16, classes: int = 10) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.lin = nn.Linear(d, classes)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(classes, d, generator=gen) * 1e-3)
            self.lin.bias.copy_(torch.linspace(50.0, 0.0, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


def batch(n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.zeros(n, dtype=torch.long)


def counted_attack(attack, threat: ThreatModel, n: int = N) -> Cost:
    model, (x, y) = Stubborn(), batch(n)
    with PassCounter(model) as c:
        out = attack(model, x, y, threat)
    assert bool((model(out.x_adv).argmax(1) == y).all())  # never fooled: no early stop happened
    return c.cost


@pytest.mark.parametrize("attack, per_example", [
    # 1 clean check + restarts x (n_iter + 1) x eot_iter gradient evaluations
    (APGDCE(APGDCE.Config(n_iter=4, n_restarts=2), seed=0), Cost(1 + 2 * 5, 2 * 5)),
    (APGDDLR(APGDDLR.Config(n_iter=3, eot_iter=2)), Cost(1 + 4 * 2, 4 * 2)),
    # + 1 forward ranking the targets, one round per target class
    (APGDT(APGDT.Config(n_iter=3, n_restarts=2, n_target_classes=3), seed=0), Cost(2 + 3 * 2 * 4, 3 * 2 * 4)),
    # 1 clean check + binary_search_steps x max_iterations (no early abort)
    (CWL2(CWL2.Config(binary_search_steps=2, max_iterations=5, abort_early="off")), Cost(11, 10)),
    # Square: 1 clean check + n_queries forwards per run (the start and n_queries - 1 proposals)
    (Square(Square.Config(n_queries=7, n_restarts=2), seed=0), Cost(1 + 2 * 7, 0)),
    # FAB: 1 ranking forward + restarts x n_iter x (linearisation: 1 F + (candidates - 1) B; 1 F check)
    (FAB(FAB.Config(n_iter=4, restarts=2, candidates=3), seed=0), Cost(1 + 2 * 4 * 2, 2 * 4 * 2)),
    # FAB-T: 1 ranking forward + targets x n_iter x (1 F + 1 B, 1 F check)
    (FABTargeted(FABTargeted.Config(n_iter=3, n_target_classes=2), seed=0), Cost(1 + 2 * 3 * 2, 2 * 3)),
    # 1 ranking forward + (max_iter + 1) linearisations of 1 forward and (candidates - 1) backwards
    (DeepFool(DeepFool.Config(max_iter=3, candidates=4)), Cost(1 + 4, 4 * 3)),
    (PGDEOT(PGDEOT.Config(steps=3, eot_samples=2), seed=0), Cost(6, 6)),
    (UnboundedPGD(UnboundedPGD.Config(steps=5, early_stop=False), seed=0), Cost(5, 5)),
    # with early stop: 1 success check between chunks of CHUNK steps
    (UnboundedPGD(UnboundedPGD.Config(steps=CHUNK + 3), seed=0), Cost(CHUNK + 3 + 1, CHUNK + 3)),
    # 1 clean check, then each member's attack_active passes + 1 scoring forward
    (AutoAttack(AutoAttack.Config(version="custom", members=["apgd-ce", "apgd-t"],
                                  member_configs={"apgd-ce": {"n_iter": 3}, "apgd-t": {"n_iter": 2,
                                                                                       "n_target_classes": 2}})),
     Cost(1 + (4 + 1) + (1 + 2 * 3 + 1), 4 + 2 * 3)),
])
def test_declared_attack_costs_equal_the_counted_passes(attack, per_example):
    threat = L2 if isinstance(attack, CWL2) else UNBOUNDED if isinstance(attack, UnboundedPGD) else LINF
    declared = attack.cost(threat)
    assert declared == per_example
    assert counted_attack(attack, threat) == declared * N


def test_autoattack_cost_composes_its_members():
    threat = LINF
    # standard: 1 clean forward, then each member + 1 scoring forward: APGD-CE 101 gradient evaluations,
    # APGD-T 9 x 101 + 1 ranking forward, FAB-T 1 ranking forward + 9 x 100 x (2 F + 1 B), Square 5000 forwards
    assert AutoAttack().cost(threat) == Cost(1, 0) + (Cost.steps(101) + Cost(1, 0)) + \
        (Cost.steps(909) + Cost(2, 0)) + (Cost(1 + 1800 + 1, 900)) + Cost(5000 + 1, 0)
    # the standard APGD members: 101 gradient evaluations, APGD-T 9 targets + its ranking forward
    assert APGDCE().active_cost(threat) == Cost.steps(101)
    assert APGDT().active_cost(threat) == Cost.steps(9 * 101) + Cost(1, 0)


def test_deepfool_cost_needs_the_candidates():
    assert DeepFool().cost(L2) is None  # all classes: their number is unknown to cost()
    assert DeepFool().cost(L2, num_classes=10) == Cost(52, 51 * 9)  # the dry run passes the dataset's classes
    assert DeepFool(DeepFool.Config(max_iter=50, candidates=4)).cost(L2, num_classes=3) == Cost(52, 51 * 2)
    assert FAB().cost(L2) is None and FAB().cost(L2, num_classes=10) == Cost(1 + 200, 900)
    assert DeepFool(DeepFool.Config(max_iter=50, candidates=10)).cost(L2) == Cost(52, 51 * 9)


def probe_input(n: int = N, n_train: int = 5, **kw) -> ProbeInput:
    x, y = batch(n)
    xt, yt = batch(n_train)
    return ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"), x_train=xt, y_train=yt, batch_size=2,
                      **kw)


@pytest.mark.parametrize("probe", [GeneralizationProbe(), GeneralizationProbe(GeneralizationProbe.Config(n_train=2)),
                                   MarginProbe(), MarginProbe(MarginProbe.Config(n_train=4))])
def test_declared_probe_costs_equal_the_counted_passes(probe):
    model, data = Stubborn(), probe_input()
    with PassCounter(model) as c:
        probe(model, data)
    used = 5 if probe.config.n_train is None else probe.config.n_train
    assert probe.cost(N, 5) == Cost(N + used, 0) == c.cost


def test_integrity_cost_counts_the_continued_steps_of_every_threat_model():
    x, _ = batch()
    threat2 = ThreatModel(norm="L2", eps=0.5)
    attacks = {"a": AttackRecord(x, LINF), "b": AttackRecord(x.clone(), LINF), "c": AttackRecord(x, threat2)}
    probe = IntegrityProbe(IntegrityProbe.Config(continue_steps=3))
    model, data = Stubborn(), probe_input(attacks=attacks)
    with PassCounter(model) as c:
        probe(model, data)
    declared = probe.cost(N, 5, attacks_per_threat=[2, 1])
    # per example: margin gradient (1F + 1B), 2 randomness forwards, per threat model its records' forwards
    # and 4 continued gradient evaluations (every example stays robust here)
    assert declared == Cost(N * (3 + 2 + 4 + 1 + 4), N * (1 + 4 + 4)) == c.cost
    assert probe.cost(N, 5) is None  # the row's threat models are unknown to cost(n, n_train)
    assert probe.cost(N, 5, attacks_per_threat=[]) == Cost(3 * N, N)
