"""Corruption generation cost per image against the floor of one forward pass (issue 19, item 1).

For each of the 15 corruptions at severity 3, the time to corrupt a batch of 64 images is compared
with one forward pass of the SmallCNN on the same batch (the floor: evaluating a corrupted batch
costs at least that). Sizes: 8x8 digits (1 channel) and 32x32 (3 channels). The pytest-benchmark
group is ``corruption-<size>``; the ratio to the floor is printed at the end by the conftest's
summary (benchmark mean over the group's floor).

Run: python -m pytest tests/benchmarks/test_corruption_perf.py -m perf --benchmark-autosave
"""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.perf

N = 64
SIZES = {"8x8": (1, 8, 8), "32x32": (3, 32, 32)}


@pytest.fixture(scope="module", params=list(SIZES), ids=list(SIZES))
def setup(request):
    from robarena_classics.models.small_cnn import SmallCNN

    shape = SIZES[request.param]
    torch.manual_seed(0)
    model = SmallCNN(shape, 10).eval()
    x = torch.rand((N, *shape), generator=torch.Generator().manual_seed(1))
    return request.param, model, x


def _forward(model, x):
    with torch.no_grad():
        return model(x)


def test_forward_floor(benchmark, setup):
    name, model, x = setup
    benchmark.group = f"corruption-{name}"
    benchmark.extra_info["per_image"] = True
    benchmark.pedantic(_forward, args=(model, x), rounds=5, iterations=1, warmup_rounds=1)


def _corruptions():
    from robarena_corruptions import CORRUPTIONS
    return CORRUPTIONS


@pytest.mark.parametrize("corruption", _corruptions())
def test_corruption(benchmark, setup, corruption):
    from robarena_corruptions import corrupt

    name, _, x = setup
    benchmark.group = f"corruption-{name}"

    def run():
        return corrupt(x, corruption, 3, torch.Generator().manual_seed(0))

    y = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
