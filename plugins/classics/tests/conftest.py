"""Shared fixtures: the digits and one trained model (helpers live in classics_helpers.py)."""
from __future__ import annotations

import pytest

from bench.api import TrainConfig
from classics_helpers import train_context


@pytest.fixture(scope="session")
def digits():
    from bench.data.digits import Digits

    return Digits()()


@pytest.fixture(scope="session")
def standard_digits_model(digits):
    """SmallCNN trained with standard cross-entropy for 6 epochs (about 1.5 s on 2 CPU cores)."""
    from robarena_classics.defenses.standard import Standard
    from robarena_classics.models.small_cnn import SmallCNN

    train = TrainConfig(epochs=6, batch_size=64, lr=0.1)
    return Standard(train=train)(lambda: SmallCNN(digits.shape, digits.num_classes), digits, train_context(0))
