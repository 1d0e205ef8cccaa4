"""Shared pieces of the AutoAttack components (APGD, Square and their ensemble).

**Batch-independent randomness.** Every AutoAttack component here draws its random numbers
for the *whole* batch it is given (shape (N, ...)) and only then selects the examples it
actually attacks. An example's result therefore depends only on the seed, its own position
in the batch and the model, not on which other examples are attacked. That is what lets the
ensemble (:mod:`.autoattack`) run each member only on the points still robust while
returning exactly what the members would fool on the full batch (up to float rounding of
batched forward passes).

**The member protocol.** Components implement ``attack_active(model, x, y, threat,
generator, active) -> x_adv``: ``x`` (N, C, H, W) and ``y`` (N,) are the full batch,
``active`` (N,) bool selects the examples to attack, and ``x_adv`` (N, C, H, W) holds their
adversarial examples (the first fooling iterate where one was found, else the attack's best
point) and the clean input elsewhere. Their ``run`` attacks the clean-correct examples.
"""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def clean_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the model classifies the clean input correctly (one forward pass)."""
    return model(x).argmax(dim=1) == y


def uniform(shape: tuple, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) draws of ``shape`` on the generator's device, moved to ``like``'s device and dtype."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


def normal(shape: tuple, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """N(0, 1) draws of ``shape`` on the generator's device, moved to ``like``'s device and dtype."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


def random_signs(shape: tuple, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform draws from {-1, +1} of ``shape`` (``like``'s device and dtype)."""
    bits = torch.randint(0, 2, shape, generator=generator, device=generator.device)
    return (2 * bits - 1).to(device=like.device, dtype=like.dtype)


def random_ints(high: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` uniform integers in ``{0, ..., high - 1}`` (``high`` >= 1), on ``device``."""
    return torch.randint(0, high, (n,), generator=generator, device=generator.device).to(device)
