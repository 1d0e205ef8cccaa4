"""Representation inversion by gradient descent on the image (P2 Def. 0.1, Eq. 3; Def. 0.7, Eq. 10).

``x_hat = argmin_{x'} ||z_bar - f(x')||_2`` over images ``x'`` in ``[0, 1]``, from a given start
``x'(0)`` (P2: white noise ``N(0.5, sigma)``). The objective is reported per image relative to
the target's norm, ``L_inv = ||f(x') - z_bar||_2 / ||z_bar||_2`` (as in the representation
inversion of Engstrom et al. 2019, whose setup P2 follows), so that models with differently
scaled features are comparable; the division does not change the minimizer.

Optimizers (P2 states none):

* ``"normalized-gd"`` (default): per image, ``x' <- clip_[0,1](x' - step_size * g / ||g||_2)``
  with ``g`` the gradient of that image's loss; this is the L2 projected-gradient step of the
  robustness library's inversion (Engstrom et al. 2019: step 1, 10,000 iterations on 3x32x32).
* ``"adam"``: ``torch.optim.Adam`` on the sum of the per-image losses (Adam is elementwise, so
  the images do not interact), learning rate ``step_size``, then the same clipping.

The returned image is, per image, the iterate with the lowest objective seen (the argmin of
Eq. 3 over the path), and ``curve[t, i]`` is image i's objective at iterate t.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

from bench.errors import UsageError

Optimizer = Literal["normalized-gd", "adam"]
FeatureFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Inversion:
    """``x``: (N, C, H, W) best iterate per image. ``curve``: (steps + 1, N) relative objective per iterate."""

    x: torch.Tensor
    curve: torch.Tensor

    @property
    def final_loss(self) -> torch.Tensor:
        """(N,) the objective at the returned images (the minimum of each curve)."""
        return self.curve.min(dim=0).values


def relative_loss(features: FeatureFn, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,) ``||f(x) - target||_2 / ||target||_2`` per image (the norm floored at 1e-12)."""
    z = features(x).flatten(1)
    return torch.linalg.vector_norm(z - target, dim=1) / torch.linalg.vector_norm(target, dim=1).clamp_min(1e-12)


def invert(features: FeatureFn, target: torch.Tensor, x0: torch.Tensor, steps: int, step_size: float,
           optimizer: Optimizer = "normalized-gd", on_step: Callable[[int], object] | None = None) -> Inversion:
    """Minimize ``||f(x') - target|| / ||target||`` over ``x'`` in [0, 1] from ``x0``.

    Args:
        features: the feature map, (N, C, H, W) -> (N, D); gradients flow to its input only.
        target: (N, D) target representations ``z_bar``.
        x0: (N, C, H, W) start, clipped to [0, 1].
        steps: number of updates (the curve has ``steps + 1`` points).
        step_size: L2 length of each per-image step (``normalized-gd``) or Adam's learning rate.
        optimizer: ``"normalized-gd"`` or ``"adam"``.
        on_step: called with 1 after every update (e.g. a progress bar's ``update``).
    """
    if steps < 0:
        raise UsageError(f"steps must be >= 0, got {steps}")
    if not step_size > 0:
        raise UsageError(f"step_size must be > 0, got {step_size}")
    if optimizer not in ("normalized-gd", "adam"):
        raise UsageError(f"optimizer {optimizer!r} is not 'normalized-gd' or 'adam'")
    if x0.shape[0] != target.shape[0]:
        raise UsageError(f"{x0.shape[0]} start images for {target.shape[0]} targets")
    target = target.detach().flatten(1)
    x = x0.detach().clamp(0, 1).clone().requires_grad_(True)
    adam = torch.optim.Adam([x], lr=step_size) if optimizer == "adam" else None
    best_x = x.detach().clone()
    best_loss = torch.full((x.shape[0],), float("inf"), device=x.device)
    curve = []
    view = (-1,) + (1,) * (x.dim() - 1)
    for step in range(steps + 1):
        with torch.enable_grad():
            loss = relative_loss(features, x, target)
        current = loss.detach()
        curve.append(current)
        better = current < best_loss
        best_loss = torch.where(better, current, best_loss)
        best_x[better] = x.detach()[better]
        if step == steps:
            break
        (g,) = torch.autograd.grad(loss.sum(), x)
        with torch.no_grad():
            if adam is None:
                norm = torch.linalg.vector_norm(g.flatten(1), dim=1).clamp_min(1e-12)
                x -= step_size * g / norm.view(view)
            else:
                x.grad = g
                adam.step()
            x.clamp_(0, 1)
        if on_step is not None:
            on_step(1)
    return Inversion(best_x, torch.stack(curve).cpu())
