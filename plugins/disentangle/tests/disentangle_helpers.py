"""Models with known input Fisher information, shared by the disentangle tests."""
from __future__ import annotations

import torch
from torch import nn

from bench.api.probe import AttackRecord, ProbeInput
from bench.threat import ThreatModel


def softmax_linear(d=12, k=5, seed=0, dtype=torch.float64):
    """logits = W x + b on (1, 3, 4) inputs, with weights large enough for non-uniform softmax outputs."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).to(dtype).eval()
    with torch.no_grad():
        model[1].weight.copy_(2 * torch.randn(k, d, generator=g, dtype=dtype))
        model[1].bias.copy_(torch.randn(k, generator=g, dtype=dtype))
    return model


def closed_form_fisher(model, x):
    """F_x = W^T (diag p - p p^T) W per example (N, d, d) for the softmax-linear model."""
    w = model[1].weight
    with torch.no_grad():
        p = model(x).softmax(dim=1)
        a = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
        return w.T @ a @ w


def probe_input(x, y, num_classes=5, batch_size=4, attacks=None):
    return ProbeInput(x=x, y=y, num_classes=num_classes, device=torch.device("cpu"), batch_size=batch_size,
                      attacks=attacks or {})


def linf_record(x_adv, eps=0.1):
    return AttackRecord(x_adv, ThreatModel(norm="Linf", eps=eps))
