"""Embedded transfer targets at a controlled distance from the ``core/gratings32`` source (P2's task).

P2 (Terzi et al.) trains on CIFAR and transfers to targets at increasing distance (CIFAR-100,
SVHN, Fashion-MNIST, MNIST). The embedded analogue, for CPU runs without downloads:

* ``core/gratings32-shifted`` (near, with a knob): the source generator with fresh seeds and
  its class-defining parameters moved by ``shift`` = s in [0, 1]: orientations rotated by
  s x 9 degrees (half the 18-degree class spacing), spatial frequencies raised by 3s cycles
  per image (2.5-4.5 -> 5.5-7.5 at s = 1), and class colours rotated about the grey axis by
  s x 180 degrees (complementary hues at s = 1). s = 0 is a fresh draw of the source itself.
  Class k is still "orientation k", so the label semantics carry over. Train 2,000 / test 500.
* ``core/digits32`` (far): scikit-learn's real handwritten digits (UCI), 8x8 bilinearly
  resized to 32x32 and replicated to three grey channels, as P2 feeds MNIST to RGB models.
  Train 1,297 / test 500, 10 classes.

Distance is measured by :func:`bench.data.distance.frechet_distance` on raw pixels (pooled
to 8x8); ``tests/data/test_data_targets.py`` pins source-vs-near < source-vs-far and the
monotone growth with s.
"""
from __future__ import annotations

import math

import torch
from pydantic import Field

from bench.api.config import BaseConfig
from bench.api.data import Dataset, DatasetSplits
from bench.data.digits import Digits
from bench.data.gratings import COLORS, make_gratings

TARGET_SEED = 1000  # target draws use seeds 1000 + 2 * seed (+1), disjoint from the source's 2 * seed (+1)


def rotate_hue(colors: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate RGB colours (K, 3) about the grey axis (1, 1, 1) by ``angle`` radians (Rodrigues), clamped to [0, 1]."""
    u = torch.ones(3) / math.sqrt(3.0)
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    rot = math.cos(angle) * torch.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * torch.outer(u, u)
    return (colors @ rot.T).clamp(0.0, 1.0)


class ShiftedConfig(BaseConfig):
    shift: float = Field(0.25, ge=0.0, le=1.0, description="distance knob s: 0 = the source distribution, 1 = farthest")
    n_train: int = Field(2000, ge=1)
    n_test: int = Field(500, ge=1)
    noise: float = Field(0.08, ge=0.0, le=0.5)
    seed: int = 0


class GratingsShifted(Dataset):
    """Gratings with orientation, frequency and hue moved by ``shift``: (3, 32, 32), 10 classes."""

    Config = ShiftedConfig

    def load(self) -> DatasetSplits:
        c = self.config
        kw = dict(angle_offset=c.shift * math.pi / 20, freq_offset=3.0 * c.shift,
                  colors=rotate_hue(COLORS, c.shift * math.pi))
        xt, yt = make_gratings(c.n_train, TARGET_SEED + 2 * c.seed, c.noise, **kw)
        xs, ys = make_gratings(c.n_test, TARGET_SEED + 2 * c.seed + 1, c.noise, **kw)
        names = [f"{k * 18 + 9 * c.shift:g}deg" for k in range(10)]
        return DatasetSplits(xt, yt, xs, ys, 10, names,
                             {"generator": "bench.data.gratings.make_gratings", "shift": c.shift})


class Digits32(Digits):
    """The real digits, bilinearly resized to 32x32 and replicated to RGB: (3, 32, 32)."""

    size = 32

    def load(self) -> DatasetSplits:
        s = super().load()
        rgb = DatasetSplits(s.x_train.expand(-1, 3, -1, -1).contiguous(), s.y_train,
                            s.x_test.expand(-1, 3, -1, -1).contiguous(), s.y_test, s.num_classes, s.class_names, s.meta)
        return rgb
