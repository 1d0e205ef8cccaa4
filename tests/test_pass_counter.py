"""bench.testing.passes.PassCounter counts example passes exactly as bench.api.Cost defines them."""
from __future__ import annotations

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
