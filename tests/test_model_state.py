"""preserved_model_state and the base classes' calls: the model leaves exactly as it came in."""
import numpy as np
import pytest
import torch
from torch import nn

from bench.api import Attack, Probe, ProbeInput, ProbeResult, Task, TaskInput, TaskResult
from bench.api.data import DatasetSplits
from bench.api.model_state import preserved_model_state
from bench.threat import ThreatModel


def mixed_model():
    """conv (train, frozen weight, grad on bias), bn (eval), head (train, grad 0.5 on weight only)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    conv, bn, _, head = model
    model.train()
    bn.eval()
    conv.weight.requires_grad_(False)
    conv.bias.grad = torch.full_like(conv.bias, -1.0)
    head.weight.grad = torch.full_like(head.weight, 0.5)
    return model


EXPECTED_TRAINING = [True, True, False, True, True]  # Sequential, conv, bn, flatten, head
EXPECTED_REQUIRES = [False, True, True, True, True, True]  # conv.w, conv.b, bn.w, bn.b, head.w, head.b


def scramble(model):
    """Everything a careless component could do: modes, flags, a backward pass, new .grad objects."""
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    model(torch.rand(2, 1, 4, 4)).sum().backward()
    model[0].bias.grad = torch.zeros_like(model[0].bias)
    model[1].eval()
    for p in model.parameters():
        p.requires_grad_(False)


def assert_as_found(model, grads):
    assert [m.training for m in model.modules()] == EXPECTED_TRAINING
    assert [p.requires_grad for p in model.parameters()] == EXPECTED_REQUIRES
    for p, g in zip(model.parameters(), grads):
        assert p.grad is g  # None stays None, a tensor stays the same object ...
    conv, _, _, head = model
    assert torch.equal(conv.bias.grad, torch.full((2,), -1.0))  # ... with its value
    assert torch.equal(head.weight.grad, torch.full((3, 32), 0.5))


def test_restores_every_mode_flag_and_grad_after_the_body_changed_them():
    model = mixed_model()
    grads = [p.grad for p in model.parameters()]
    with preserved_model_state(model) as inside:
        assert inside is model
        scramble(model)
    assert_as_found(model, grads)


def test_restores_on_an_exception_and_lets_it_propagate():
    model = mixed_model()
    grads = [p.grad for p in model.parameters()]
    with pytest.raises(RuntimeError, match="boom"):
        with preserved_model_state(model, freeze=True):
            scramble(model)
            raise RuntimeError("boom")
    assert_as_found(model, grads)


def test_inside_the_model_is_in_eval_mode_without_the_callers_gradients():
    model = mixed_model()
    with preserved_model_state(model):
        assert not any(m.training for m in model.modules())
        assert all(p.grad is None for p in model.parameters())
        assert [p.requires_grad for p in model.parameters()] == EXPECTED_REQUIRES  # not frozen by default
        model(torch.ones(1, 1, 4, 4)).sum().backward()
        fresh = model[3].weight.grad.clone()
    assert torch.equal(model[3].weight.grad, torch.full((3, 32), 0.5))  # nothing accumulated into it
    with preserved_model_state(model, freeze=True):
        assert not any(p.requires_grad for p in model.parameters())
    with preserved_model_state(model, eval_mode=False):
        assert [m.training for m in model.modules()] == EXPECTED_TRAINING
        model(torch.ones(1, 1, 4, 4)).sum().backward()
        assert torch.equal(model[3].weight.grad, fresh)  # the same backward from zero gradients


def test_nested_contexts_restore_each_level():
    model = mixed_model()
    grads = [p.grad for p in model.parameters()]
    with preserved_model_state(model):
        with preserved_model_state(model, freeze=True):
            scramble(model)
        assert not any(m.training for m in model.modules())
        assert [p.requires_grad for p in model.parameters()] == EXPECTED_REQUIRES
        assert all(p.grad is None for p in model.parameters())
    assert_as_found(model, grads)


# ---------------------------------------------------------------- the base classes use it

class Scrambling:
    fail = False

    def mess(self, model):
        assert not any(m.training for m in model.modules()), "run() must see an eval-mode model"
        scramble(model)
        if self.fail:
            raise ValueError("run failed")


class ScramblingAttack(Scrambling, Attack):
    norms = ("Linf",)

    def run(self, model, x, y, threat, generator, target=None):
        assert not any(p.requires_grad for p in model.parameters()), "attacks run on frozen parameters"
        self.mess(model)
        return x


class ScramblingProbe(Scrambling, Probe):
    def run(self, model, data, generator):
        self.mess(model)
        return ProbeResult({"a": 1.0}, {"v": np.zeros(2)})


class ScramblingTask(Scrambling, Task):
    def run(self, model, inputs, generator):
        self.mess(model)
        return TaskResult({"m": 2})


def call(component, model):
    x, y = torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2])
    if isinstance(component, Attack):
        return component(model, x, y, ThreatModel(norm="Linf", eps=0.1))
    if isinstance(component, Probe):
        return component(model, ProbeInput(x=x, y=y, num_classes=3, device=torch.device("cpu")))
    data = DatasetSplits(x, y, x, y, num_classes=3)
    return component(model, TaskInput(data=data, device=torch.device("cpu")))


@pytest.mark.parametrize("cls", [ScramblingAttack, ScramblingProbe, ScramblingTask])
@pytest.mark.parametrize("fail", [False, True])
def test_every_component_call_leaves_the_model_as_found(cls, fail):
    model = mixed_model()
    grads = [p.grad for p in model.parameters()]
    component = cls()
    component.fail = fail
    if fail:
        with pytest.raises(ValueError, match="run failed"):
            call(component, model)
    else:
        call(component, model)
    assert_as_found(model, grads)
