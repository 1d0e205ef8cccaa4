"""Declared compute costs (``cost`` hooks, ``robarena run --dry-run``) against hand-counted passes."""
from __future__ import annotations

from bench.api import Cost, TrainConfig
from bench.threat import ThreatModel
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.pgd import PGD
from robarena_classics.defenses.fast_at import FastAT
from robarena_classics.defenses.pgd_at import PGDAT
from robarena_classics.defenses.standard import Standard
from robarena_classics.defenses.trades import TRADES

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
