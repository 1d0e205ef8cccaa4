"""Test helpers (a module with a unique name, so it never clashes with another conftest)."""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.api import TrainContext
from robarena_classics.models.linear import LinearClassifier

SHAPE = (1, 4, 4)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear_model(num_classes: int, shape=SHAPE, seed: int = 0) -> LinearClassifier:
    """An affine classifier with N(0, 1) weights and biases drawn from a private generator."""
    model = LinearClassifier(shape, num_classes)
    g = generator(seed)
    with torch.no_grad():
        model.head.weight.copy_(torch.randn(model.head.weight.shape, generator=g))
        model.head.bias.copy_(torch.randn(model.head.bias.shape, generator=g))
    return model.eval()


def interior_inputs(n: int, shape=SHAPE, seed: int = 1, lo: float = 0.3, hi: float = 0.7) -> torch.Tensor:
    """Inputs far enough from the [0, 1] box edges that small balls never touch them."""
    return lo + (hi - lo) * torch.rand((n, *shape), generator=generator(seed))


def tiny_mlp(shape, num_classes: int, seed: int, hidden: int = 8) -> nn.Module:
    """A random two-layer ReLU network (weights from a private generator)."""
    d = math.prod(shape)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
    g = generator(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model.eval()


def train_context(seed: int = 0) -> TrainContext:
    return TrainContext(device=torch.device("cpu"), seed=seed, generator=generator(seed))
