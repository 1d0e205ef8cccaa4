"""The conformance helpers themselves: the mixed state they set and the changes they catch."""
from types import SimpleNamespace

import pytest
import torch

from bench.api import Probe, ProbeResult, Task, TaskResult
from bench.testing.conformance import ModelSnapshot, check_probe, check_task, check_unchanged, mixed_state
from bench.testing.tiny import TinyConv


def test_mixed_state_alternates_modes_flags_and_grads():
    model = mixed_state(TinyConv((1, 8, 8), 10))
    # modules: model, normalize, body, conv, bn, relu, pool, flatten, head
    assert [m.training for m in model.modules()] == [True, False, True, False, True, False, True, False, True]
    params = list(model.parameters())  # conv.w, conv.b, bn.w, bn.b, head.w, head.b
    assert [p.requires_grad for p in params] == [True, False, True, False, True, False]
    assert [p.grad is not None for p in params] == [True, False, False, True, False, False]
    assert torch.equal(params[3].grad, torch.full((8,), 0.5))


def bump_grad_in_place(m):
    m.body[0].weight.grad.add_(1.0)


def replace_grad(m):
    m.body[0].weight.grad = m.body[0].weight.grad.clone()


def add_grad(m):
    m.head.weight.grad = torch.zeros_like(m.head.weight)


def flip_mode(m):
    m.body[1].eval()


def unfreeze(m):
    m.body[0].bias.requires_grad_(True)


def update_running_stats(m):
    m.body[1].running_mean.add_(0.1)


@pytest.mark.parametrize("change,message", [
    (bump_grad_in_place, "changed the .grad of parameter body.0.weight"),
    (replace_grad, "replaced the .grad tensor of parameter body.0.weight"),
    (add_grad, "left a .grad on parameter head.weight"),
    (flip_mode, "left submodule body.1 in eval mode"),
    (unfreeze, "changed requires_grad of parameter body.0.bias"),
    (update_running_stats, "changed the model's parameter or buffer body.1.running_mean"),
])
def test_check_unchanged_names_each_kind_of_change(change, message):
    model = mixed_state(TinyConv((1, 8, 8), 10))
    before = ModelSnapshot.of(model)
    check_unchanged(before, model, "x")  # nothing changed yet
    change(model)
    with pytest.raises(AssertionError, match=f"^x {message}"):
        check_unchanged(before, model, "x")


class LeakyProbe(Probe):
    """Bypasses the base's __call__: leaves the whole model in eval mode."""

    def run(self, model, data, generator):
        return ProbeResult({"a": 1.0})

    def __call__(self, model, data):
        model.eval()
        return self.run(model, data, None)


class LeakyTask(Task):
    """Overrides __call__ and leaves parameter gradients behind."""

    def run(self, model, inputs, generator):
        model(inputs.data.x_test[:4]).sum().backward()
        return TaskResult({"m": 1.0})

    def __call__(self, model, inputs):
        return self.run(model, inputs, None)


def fake_entry(impl, columns):
    return SimpleNamespace(load=lambda: impl, qualified_id="fake/leaky", spec=SimpleNamespace(columns=columns))


def test_probe_and_task_checks_catch_a_component_that_leaves_the_model_changed():
    with pytest.raises(AssertionError, match="fake/leaky left submodule <model> in eval mode"):
        check_probe(fake_entry(LeakyProbe, ["a"]))
    with pytest.raises(AssertionError, match="fake/leaky changed the .grad of parameter body.0.weight"):
        check_task(fake_entry(LeakyTask, ["m"]))
