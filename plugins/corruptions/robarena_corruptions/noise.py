"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper).

Per-pixel and size-free, so the CIFAR-10-C parameters apply unchanged at every image size.
Written in torch rather than taken from ``imagecorruptions`` (which draws from numpy's global RNG,
not from a ``torch.Generator``); see docs/corruptions.md.
"""
from __future__ import annotations

import torch

GAUSSIAN_SIGMA = (0.04, 0.06, 0.08, 0.09, 0.10)   # std of the additive noise
SHOT_RATE = (500.0, 250.0, 100.0, 75.0, 50.0)      # photons per unit intensity: Poisson(x*c)/c
IMPULSE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)    # fraction of values replaced by 0 or 1


def gaussian_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    c = GAUSSIAN_SIGMA[severity - 1]
    return x + c * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def shot_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    c = SHOT_RATE[severity - 1]
    return torch.poisson((x * c).double(), generator=generator).to(x.dtype) / c


def impulse_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Each value independently: with probability ``amount`` it becomes salt (1) or pepper (0),
    each half the time (skimage's ``random_noise(mode='s&p')``, as the reference uses)."""
    amount = IMPULSE_AMOUNT[severity - 1]
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64)
    out = x.clone()
    out[u < amount / 2] = 0.0
    out[(u >= amount / 2) & (u < amount)] = 1.0
    return out


PARAMS = {"gaussian_noise": GAUSSIAN_SIGMA, "shot_noise": SHOT_RATE, "impulse_noise": IMPULSE_AMOUNT}
FUNCS = {"gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise}
