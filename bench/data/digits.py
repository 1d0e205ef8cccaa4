"""scikit-learn's bundled handwritten digits: real data, no download.

1,797 grey 8x8 images (values 0..16, scaled to [0, 1]), 10 classes. The split is fixed
and documented: train = the first 1,297 examples in scikit-learn's order, test = the
last 500. ``n_train`` / ``n_test`` take the first examples of each split.
"""
from __future__ import annotations

from typing import Optional

import torch
from pydantic import Field

from bench.api.config import BaseConfig
from bench.api.data import Dataset, DatasetSplits

N_TRAIN = 1297


class DigitsConfig(BaseConfig):
    n_train: Optional[int] = Field(None, ge=1, description="first n training examples (default all 1,297)")
    n_test: Optional[int] = Field(None, ge=1, description="first n test examples (default all 500)")


def _load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    return x, y


class Digits(Dataset):
    """Real 8x8 digits, shape (1, 8, 8), 10 classes."""

    Config = DigitsConfig
    size: Optional[int] = None

    def load(self) -> DatasetSplits:
        x, y = _load_digits()
        if self.size is not None:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear",
                                                align_corners=False).clamp(0.0, 1.0)
        splits = DatasetSplits(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], 10,
                               [str(i) for i in range(10)], {"source": "sklearn.datasets.load_digits"})
        return splits.subset(self.config.n_train, self.config.n_test)


class Digits28(Digits):
    """The digits bilinearly resized to (1, 28, 28)."""

    size = 28
