"""Gaussian data augmentation (Cohen, Rosenfeld & Kolter 2019, Sec. 3.3): the base classifier of smoothing.

Cross-entropy on ``x + d``, ``d ~ N(0, sigma^2 I)`` drawn from the defense's generator for every
minibatch (not clipped to [0, 1], as in the paper), through :func:`bench.api.training.fit_with_loss`.
Train with the ``sigma`` the smoothing probe certifies with.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, DatasetSplits, Defense, TrainContext
from bench.api.training import fit_with_loss


class GaussianAugmentConfig(BaseConfig):
    sigma: float = Field(0.25, gt=0, description="noise STD on the [0, 1] inputs (paper: 0.12, 0.25, 0.5, 1.0)")


def gaussian_noise_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float,
                        generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    return F.cross_entropy(model(x + sigma * noise), y)


class GaussianAugment(Defense):
    """Training on Gaussian-noised inputs. Args (``GaussianAugmentConfig``): sigma=0.25; the suite's train budget."""

    Config = GaussianAugmentConfig

    def fit(self, model: nn.Module, data: DatasetSplits, ctx: TrainContext) -> nn.Module:
        sigma = self.config.sigma

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor, c: TrainContext) -> torch.Tensor:
            return gaussian_noise_loss(m, x, y, sigma, c.generator)

        return fit_with_loss(model, data, self.train, ctx, loss_fn)

    def cost(self, n_train: int) -> Cost:
        """1 forward + 1 backward (the loss on the noisy copy) per example and epoch (``bench.api.cost``)."""
        return Cost.steps(1) * (self.train.epochs * n_train)
