"""bench.testing.passes.PassCounter counts example passes exactly as bench.api.Cost defines them."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import Cost
from bench.testing.passes import PassCounter


def test_counts_forward_and_backward_example_passes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(5, 1, 2, 2)
    with PassCounter(model) as counted:
        with torch.no_grad():
            model(x)  # 5 forwards, no graph
        x1 = x.clone().requires_grad_(True)
        out = model(x1)  # 5 forwards
        loss = out.logsumexp(1).sum() + out[:, 0].sum()  # two uses of one output: one backward pass
        torch.autograd.grad(loss, x1)  # 5 backwards (input gradient)
        model(x[:2]).sum().backward()  # 2 forwards + 2 backwards (parameter gradient)
        model[1](x.flatten(1))  # a submodule on its own is not counted
    assert counted.cost == Cost(12, 7)
    model(x)  # detached: not counted
    assert counted.cost == Cost(12, 7)


def _spin(seconds: float) -> None:
    """Burn ``seconds`` of this process's CPU time."""
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


class _SlowIdentity(torch.autograd.Function):
    """Identity whose forward burns 2 ms and whose backward burns 3 ms of CPU per call."""

    @staticmethod
    def forward(ctx, x):
        _spin(0.002)
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        _spin(0.003)
        return grad


class _SlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(_SlowIdentity.apply(x.flatten(1)))


def test_pass_clock_prices_passes_at_their_cost_in_the_run():
    """Known CPU costs (2 ms per forward call, 3 ms per backward call): the clock splits them by kind,
    counts the passes as PassCounter does, and prices a floor at the run's own per-pass costs."""
    from bench.testing.pass_clock import PassClock

    model = _SlowNet()
    grad_fn, backward_fn = torch.autograd.grad, torch.autograd.backward
    x = torch.randn(5, 1, 2, 2)
    with PassClock(model) as clock:
        for _ in range(4):
            with torch.no_grad():
                model(x)  # 4 plain forward calls of 5 examples
        for _ in range(3):
            x1 = x.clone().requires_grad_(True)
            torch.autograd.grad(model(x1).sum(), x1)  # 3 forward calls with a graph, 3 backward calls
        model(x.clone().requires_grad_(True)).sum().backward()  # through Tensor.backward: 1 more of each
    assert clock.cost == Cost(40, 20) and clock.graph_forward == 20 and clock.plain_forward == 20
    assert 4 * 0.002 <= clock.forward_s <= 4 * 0.002 * 1.5 + 0.01
    assert 4 * 0.002 <= clock.graph_forward_s <= 4 * 0.002 * 1.5 + 0.01
    assert 4 * 0.003 <= clock.backward_s <= 4 * 0.003 * 1.5 + 0.01
    assert clock.model_s == clock.forward_s + clock.graph_forward_s + clock.backward_s <= clock.cpu_s
    per_fb = (clock.graph_forward_s + clock.backward_s) / 20  # one example pass: 1/5 of a call
    per_f = clock.forward_s / 20
    assert clock.floor_s(fb=100, f=50) == pytest.approx(100 * per_fb + 50 * per_f)
    assert 100 * 0.001 <= clock.floor_s(fb=100, f=0) <= 100 * 0.001 * 1.5 + 0.02
    assert torch.autograd.grad is grad_fn and torch.autograd.backward is backward_fn  # given back
    frozen = clock.cpu_s
    _spin(0.005)
    assert clock.cpu_s == frozen  # stops at remove()


def test_pass_clock_refuses_to_price_passes_the_run_never_made():
    from bench.testing.pass_clock import PassClock

    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with PassClock(model) as clock:
        with torch.no_grad():
            model(torch.randn(2, 1, 2, 2))
    assert clock.floor_s(fb=0, f=10) > 0
    with pytest.raises(ValueError, match="no pass to price"):
        clock.floor_s(fb=10, f=0)
