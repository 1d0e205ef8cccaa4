"""Conformance checks every registered component must pass (used over the whole registry).

Each ``check_*`` raises ``AssertionError`` with a readable message on the first violation;
they are test helpers, run under pytest.
"""
from __future__ import annotations

import math

import torch

from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from bench.api.probe import AttackRecord, ProbeInput
from bench.config import TrainConfig
from bench.testing.tiny import TinyConv, TinyLinear, tiny_batch
from bench.threat import ThreatModel


def default_threat(norm: str, targeted: bool = False) -> ThreatModel:
    if norm == "unbounded":
        return ThreatModel(norm="unbounded", targeted=targeted)
    return ThreatModel(norm=norm, eps=0.1 if norm == "Linf" else 0.5, targeted=targeted)


def _state(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_attack(entry, seed: int = 0) -> None:
    """Inside the threat model, deterministic for a seed, model and global RNG untouched."""
    impl = entry.load()
    model = TinyConv((1, 8, 8), 10)
    model.train()  # the attack must restore this
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    grads = [p.grad.clone() for p in model.parameters()]
    before = _state(model)
    x, y = tiny_batch((1, 8, 8), n=6, seed=seed)
    for norm in entry.spec.norms:
        for targeted in ([False] if entry.spec.untargeted else []) + ([True] if entry.spec.targeted else []):
            threat = default_threat(norm, targeted)
            target = (y + 1) % 10 if targeted else None
            rng = torch.get_rng_state()
            out1 = impl(impl.smoke_config(), seed=seed)(model, x, y, threat, target=target)
            assert torch.equal(rng, torch.get_rng_state()), f"{entry.qualified_id} consumed the global RNG"
            out2 = impl(impl.smoke_config(), seed=seed)(model, x, y, threat, target=target)
            assert torch.equal(out1.x_adv, out2.x_adv), f"{entry.qualified_id} is not deterministic for a seed"
            assert not bool(threat.violations(out1.x_adv, x).any()), f"{entry.qualified_id} left {threat.label}"
    assert model.training, f"{entry.qualified_id} did not restore train mode"
    assert all(torch.equal(a, b) for a, b in zip(before.values(), _state(model).values())), \
        f"{entry.qualified_id} changed the model's parameters or buffers"
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters())), \
        f"{entry.qualified_id} changed parameter gradients"


def _tiny_splits(n_train: int = 64, n_test: int = 16) -> DatasetSplits:
    from bench.data.digits import Digits

    return Digits(Digits.Config(n_train=n_train, n_test=n_test))()


def check_defense(entry, model_cls=TinyConv, seed: int = 0) -> torch.nn.Module:
    """Trains a tiny model for one epoch, deterministically for a seed, returning eval mode.

    ``model_cls(input_shape, num_classes)`` builds the architecture (e.g. a registered model
    with its ``smoke_config()``); the data are 64 real 8x8 digits.
    """
    impl = entry.load()
    data = _tiny_splits()
    train = TrainConfig(epochs=1, batch_size=16)

    def trained() -> torch.nn.Module:
        ctx = TrainContext(device=torch.device("cpu"), seed=seed, generator=torch.Generator().manual_seed(seed))
        return impl(train=train)(lambda: model_cls(data.shape, data.num_classes), data, ctx)

    rng = torch.get_rng_state()
    a, b = trained(), trained()
    assert torch.equal(rng, torch.get_rng_state()), f"{entry.qualified_id} changed the global RNG state"
    assert not a.training, f"{entry.qualified_id} returned a model in train mode"
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), f"{entry.qualified_id} is not deterministic for a seed (tensor {k})"
    logits = a(data.x_test)
    assert logits.shape == (data.x_test.shape[0], data.num_classes)
    return a


def check_probe(entry, seed: int = 0) -> None:
    """Returns every declared column as a float, in eval mode, deterministically."""
    impl = entry.load()
    model = TinyLinear((1, 8, 8), 10)
    x, y = tiny_batch((1, 8, 8), n=12, seed=seed)
    threat = ThreatModel(norm="Linf", eps=0.05)
    attacks = {"noise Linf 0.05": AttackRecord(threat.project(x + 0.05 * torch.sign(torch.randn_like(x)), x), threat)}
    pin = ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"), attacks=attacks,
                     x_train=x, y_train=y)
    r1, r2 = impl(seed=seed)(model, pin), impl(seed=seed)(model, pin)
    missing = set(entry.spec.columns) - set(r1.scalars)
    assert not missing, f"{entry.qualified_id} did not return declared columns {sorted(missing)}"
    for k, v in r1.scalars.items():
        assert isinstance(v, float), f"{entry.qualified_id}: {k} is not a float"
        assert (math.isnan(v) and math.isnan(r2.scalars[k])) or v == r2.scalars[k], \
            f"{entry.qualified_id}: {k} differs between two runs with the same seed"
