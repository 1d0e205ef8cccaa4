"""Generalization gaps: train/test cross-entropy and error, and their gaps (P1 Sec. 5.1).

P1 reports, per model, training and test loss and accuracy and the gaps between them
(Tables 3-6: "Trn Loss", "Test Loss", "dLoss", "dAcc."). The gaps here are signed,
``test - train``, as in those tables (P1 Eq. 1 takes the absolute value; on any model
that fits its training set better than its test set the two agree).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.errors import UsageError
from bench.toolkit import batched_logits
from robarena_classics.probes.common import first


class GeneralizationConfig(BaseConfig):
    n_train: Optional[int] = Field(None, ge=1, description="first n training examples (default: all)")


class GeneralizationProbe(Probe):
    """Mean cross-entropy and error rate (fraction, 0..1) on the train split and the test subset.

    Columns: ``train_loss``, ``test_loss``, ``loss_gap`` (= test - train), ``train_error``,
    ``test_error``, ``error_gap`` (= test - train). Arrays: per-example losses
    ``train_losses`` and ``test_losses`` (P1 Fig. 5b plots their histogram).
    Needs the training split (``needs_train``).

    Args (``GeneralizationConfig``): n_train=None.
    """

    Config = GeneralizationConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """1 forward per evaluation example and per training example used (the first ``n_train`` of the config)."""
        used = n_train if self.config.n_train is None else min(n_train, self.config.n_train)
        return Cost(forward=float(n + used))

    @staticmethod
    def losses_and_errors(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          data: ProbeInput) -> tuple[np.ndarray, np.ndarray]:
        logits = batched_logits(model, x, data.device, data.batch_size)
        y = y.cpu()
        losses = F.cross_entropy(logits, y, reduction="none").double().numpy()
        errors = (logits.argmax(dim=1) != y).double().numpy()
        return losses, errors

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        x_train, y_train = first(data.x_train, data.y_train, self.config.n_train)
        if x_train is None or y_train is None:
            raise UsageError("probe GeneralizationProbe needs the training split (x_train, y_train); "
                             "its spec declares needs_train=True")
        train_losses, train_errors = self.losses_and_errors(model, x_train, y_train, data)
        test_losses, test_errors = self.losses_and_errors(model, data.x, data.y, data)
        scalars = {
            "train_loss": train_losses.mean(), "test_loss": test_losses.mean(),
            "train_error": train_errors.mean(), "test_error": test_errors.mean(),
        }
        scalars["loss_gap"] = scalars["test_loss"] - scalars["train_loss"]
        scalars["error_gap"] = scalars["test_error"] - scalars["train_error"]
        return ProbeResult({k: float(v) for k, v in scalars.items()},
                           {"train_losses": train_losses, "test_losses": test_losses})
