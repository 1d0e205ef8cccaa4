"""Conformance checks every registered component must pass (used over the whole registry).

Each ``check_*`` raises ``AssertionError`` with a readable message on the first violation;
they are test helpers, run under pytest. Attacks, probes and tasks run on a model whose
submodules are in a mixed state (:func:`mixed_state`) and must leave it exactly as found:
every submodule's mode, every parameter's ``requires_grad``, ``.grad`` and value, every buffer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from bench.api.data import DatasetSplits
from bench.api.defense import TrainContext
from bench.api.probe import AttackRecord, ProbeInput
from bench.api.task import TaskInput, declared_columns
from bench.config import BaseConfig, TrainConfig
from bench.testing.tiny import TinyConv, tiny_batch
from bench.threat import ThreatModel


def default_threat(norm: str, targeted: bool = False) -> ThreatModel:
    if norm == "unbounded":
        return ThreatModel(norm="unbounded", targeted=targeted)
    return ThreatModel(norm=norm, eps=0.1 if norm == "Linf" else 0.5, targeted=targeted)


def _state(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def mixed_state(model: nn.Module) -> nn.Module:
    """Put ``model`` in a mixed state a component call must preserve, and return it.

    Alternate submodules (in ``modules()`` order, the model itself first) are in train and eval
    mode; alternate parameters require gradients or are frozen; every third parameter (the first
    included) holds a ``.grad`` of 0.5, the others none.
    """
    for i, module in enumerate(model.modules()):
        module.training = i % 2 == 0
    for i, param in enumerate(model.parameters()):
        param.requires_grad_(i % 2 == 0)
        param.grad = torch.full_like(param, 0.5) if i % 3 == 0 else None
    return model


@dataclass
class ModelSnapshot:
    """What :func:`check_unchanged` compares: modes, flags, ``.grad`` objects and values, state."""

    modes: dict[str, bool]
    requires_grad: dict[str, bool]
    grads: dict[str, Optional[torch.Tensor]]
    grad_values: dict[str, torch.Tensor]
    state: dict[str, torch.Tensor]

    @classmethod
    def of(cls, model: nn.Module) -> "ModelSnapshot":
        params = dict(model.named_parameters())
        return cls(modes={n or "<model>": m.training for n, m in model.named_modules()},
                   requires_grad={n: p.requires_grad for n, p in params.items()},
                   grads={n: p.grad for n, p in params.items()},
                   grad_values={n: p.grad.clone() for n, p in params.items() if p.grad is not None},
                   state=_state(model))


def check_unchanged(before: ModelSnapshot, model: nn.Module, who: str) -> None:
    """Assert that ``model`` is exactly as ``before`` recorded it (naming the first difference)."""
    after = ModelSnapshot.of(model)
    for name, mode in before.modes.items():
        assert after.modes[name] == mode, \
            f"{who} left submodule {name} in {'train' if after.modes[name] else 'eval'} mode, it was in " \
            f"{'train' if mode else 'eval'} mode"
    for name, flag in before.requires_grad.items():
        assert after.requires_grad[name] == flag, f"{who} changed requires_grad of parameter {name} to {not flag}"
    for name, grad in before.grads.items():
        now = after.grads[name]
        if grad is None:
            assert now is None, f"{who} left a .grad on parameter {name}, which had none"
        else:
            assert now is grad, f"{who} replaced the .grad tensor of parameter {name}"
            assert torch.equal(now, before.grad_values[name]), f"{who} changed the .grad of parameter {name}"
    for name, value in before.state.items():
        assert torch.equal(after.state[name], value), f"{who} changed the model's parameter or buffer {name}"


def check_attack(entry, seed: int = 0) -> None:
    """Inside the threat model, deterministic for a seed, model and global RNG untouched."""
    impl = entry.load()
    model = mixed_state(TinyConv((1, 8, 8), 10))
    before = ModelSnapshot.of(model)
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
            check_unchanged(before, model, entry.qualified_id)


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
    """Returns every declared column as a float, deterministically, leaving the model as found."""
    impl = entry.load()
    model = mixed_state(TinyConv((1, 8, 8), 10))
    before = ModelSnapshot.of(model)
    x, y = tiny_batch((1, 8, 8), n=12, seed=seed)
    threat = ThreatModel(norm="Linf", eps=0.05)
    attacks = {"noise Linf 0.05": AttackRecord(threat.project(x + 0.05 * torch.sign(torch.randn_like(x)), x), threat)}
    pin = ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"), attacks=attacks,
                     x_train=x, y_train=y)
    r1 = impl(seed=seed)(model, pin)
    check_unchanged(before, model, entry.qualified_id)
    r2 = impl(seed=seed)(model, pin)
    missing = set(entry.spec.columns) - set(r1.scalars)
    assert not missing, f"{entry.qualified_id} did not return declared columns {sorted(missing)}"
    for k, v in r1.scalars.items():
        assert isinstance(v, float), f"{entry.qualified_id}: {k} is not a float"
        assert (math.isnan(v) and math.isnan(r2.scalars[k])) or v == r2.scalars[k], \
            f"{entry.qualified_id}: {k} differs between two runs with the same seed"


def _load_registered_dataset(ident: str, params: dict) -> DatasetSplits:
    """``TaskInput.load_dataset`` for the checks: a registered dataset with ``params`` (no runner)."""
    from bench.registry import get_registry

    impl = get_registry().get("dataset", ident).load()
    return impl(impl.Config(**params))()


def check_task(entry, seed: int = 0, config: Optional[BaseConfig] = None) -> None:
    """Returns its declared columns as floats on 64 real 8x8 digits, leaving the model as found.

    ``config``: the task's configuration (default: its ``smoke_config()``).
    """
    impl = entry.load()
    task = impl(config if config is not None else impl.smoke_config(), seed=seed)
    model = mixed_state(TinyConv((1, 8, 8), 10))
    before = ModelSnapshot.of(model)
    inputs = TaskInput(data=_tiny_splits(), device=torch.device("cpu"), load_dataset=_load_registered_dataset)
    result = task(model, inputs)
    check_unchanged(before, model, entry.qualified_id)
    missing = set(declared_columns(task, entry.spec.columns)) - set(result.metrics)
    assert not missing, f"{entry.qualified_id} did not return declared columns {sorted(missing)}"
    assert all(isinstance(v, float) for v in result.metrics.values()), f"{entry.qualified_id}: a metric is not a float"
