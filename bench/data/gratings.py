"""Deterministic generated RGB 32x32 dataset: coloured oriented gratings, 10 classes.

Class k is a sinusoidal grating at orientation ``k * 18`` degrees with a class colour;
each example draws a random phase, a spatial frequency in [2.5, 4.5] cycles per image,
a contrast in [0.3, 0.5] and Gaussian pixel noise (std 0.08) from a fixed seed, so the
same bytes come out on every machine (the fingerprint pins them). Train 2,000 / test 500.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import Field

from bench.api.config import BaseConfig
from bench.api.data import Dataset, DatasetSplits

COLORS = torch.tensor([
    [1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.2, 1.0], [1.0, 1.0, 0.2], [1.0, 0.2, 1.0],
    [0.2, 1.0, 1.0], [1.0, 0.6, 0.2], [0.6, 0.2, 1.0], [0.7, 0.7, 0.7], [0.2, 0.6, 0.4],
])


class GratingsConfig(BaseConfig):
    n_train: int = Field(2000, ge=1)
    n_test: int = Field(500, ge=1)
    noise: float = Field(0.08, ge=0.0, le=0.5)
    seed: int = 0


def make_gratings(n: int, seed: int, noise: float, size: int = 32, angle_offset: float = 0.0,
                  freq_offset: float = 0.0, colors: torch.Tensor = COLORS) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (x, y): x (n, 3, size, size) float32 in [0, 1], y (n,) int64 balanced over 10 classes.

    ``angle_offset`` (radians), ``freq_offset`` (cycles per image) and ``colors`` (10, 3)
    default to the source dataset's values; :mod:`bench.data.targets` moves them to build
    transfer targets at a controlled distance.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    y = y[torch.randperm(n, generator=g)]
    theta = y.float() * (math.pi / 10) + angle_offset
    freq = (2.5 + freq_offset) + 2.0 * torch.rand(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, generator=g)
    contrast = 0.3 + 0.2 * torch.rand(n, generator=g)
    coords = torch.linspace(0.0, 1.0, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    proj = torch.cos(theta).view(n, 1, 1) * xx + torch.sin(theta).view(n, 1, 1) * yy
    wave = torch.sin(2 * math.pi * freq.view(n, 1, 1) * proj + phase.view(n, 1, 1))
    img = 0.5 + contrast.view(n, 1, 1, 1) * wave.unsqueeze(1) * colors[y].view(n, 3, 1, 1)
    img = img + noise * torch.randn(img.shape, generator=g)
    return img.clamp(0.0, 1.0).float(), y.long()


class Gratings32(Dataset):
    """Generated (3, 32, 32) gratings; train and test are drawn from disjoint seeds."""

    Config = GratingsConfig

    def load(self) -> DatasetSplits:
        c = self.config
        xt, yt = make_gratings(c.n_train, 2 * c.seed, c.noise)
        xs, ys = make_gratings(c.n_test, 2 * c.seed + 1, c.noise)
        names = [f"{k * 18}deg" for k in range(10)]
        return DatasetSplits(xt, yt, xs, ys, 10, names, {"generator": "bench.data.gratings.make_gratings"})
