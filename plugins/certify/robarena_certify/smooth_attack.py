"""SmoothAdv: an L2 PGD attack on the smoothed classifier through EOT (Salman et al. 2019).

Paper: Salman, Yang, Li, Zhang, Zhang, Razenshteyn and Bubeck, "Provably Robust Deep Learning via
Adversarially Trained Smoothed Classifiers", NeurIPS 2019 (arXiv:1906.04584), Sec. 3 ("SmoothAdv"):
the smoothed classifier ``g`` is not differentiable, so the attack ascends the loss of the *soft*
smoothed classifier ``G(x) = E_d[softmax(f(x + d))]``, ``d ~ N(0, sigma^2 I)``:

    maximise  -log G(x')_y   over  ||x' - x||_2 <= r  (and x' in the box [0, 1]),

with ``G`` estimated by ``m`` Monte-Carlo noise draws, i.e. the gradient of
``-log((1/m) sum_i softmax(f(x' + d_i))_y)`` (their Eq. (S), the "SmoothAdv_PGD" objective; averaging
the softmax, not the per-draw losses, is what distinguishes it from plain EOT on the cross-entropy).
Every step draws ``m`` fresh noise vectors (robarena's EOT convention, ``classics/pgd-eot``) and takes
an L2 steepest-ascent step ``x' <- P(x' + a * grad / ||grad||_2)``, ``P`` the projection onto the L2
ball and the box; the step ``a`` defaults to ``2.5 * r / steps`` (Madry et al.'s rule, robarena's L2
PGD default). The start is ``x`` itself (no random start) and the last iterate is returned: with a
stochastic objective one lucky estimate proves nothing.

Randomness comes only from the ``generator`` passed in (the caller's global RNG is not touched), so
the attack is deterministic for a seed.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import UsageError


def _project_l2(x_adv: torch.Tensor, x: torch.Tensor, radius: float, box: tuple[float, float]) -> torch.Tensor:
    """``x_adv`` moved into the L2 ball of ``radius`` around ``x`` (per example), then clipped to ``box``."""
    delta = x_adv - x
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.ndim - 1)))
    delta = delta * torch.clamp(radius / norms, max=1.0)
    return (x + delta).clamp(*box)


def smooth_adv(base: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float, radius: float, steps: int = 20,
               samples: int = 8, step_size: Optional[float] = None, generator: Optional[torch.Generator] = None,
               box: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """SmoothAdv-PGD (L2) on the soft smoothed classifier of ``base`` at noise ``sigma``.

    Args:
        base: logits model (B, C, H, W) -> (B, K), used as given (eval mode is the caller's business).
        x: clean inputs (N, C, H, W) in ``box``; y: labels (N,) int64.
        sigma: Gaussian noise STD of the smoothed classifier (> 0).
        radius: L2 radius r of the threat (>= 0; 0 returns ``x``).
        steps: PGD steps (default 20). samples: noise draws m per step (default 8).
        step_size: L2 step length; None (default) = 2.5 * radius / steps.
        generator: source of the noise (default: a fresh one seeded 0).
        box: the input domain.

    Returns:
        ``x_adv`` (N, C, H, W) with ``||x_adv - x||_2 <= radius`` per example and inside ``box``.
    """
    if sigma <= 0 or not math.isfinite(sigma):
        raise UsageError(f"sigma must be a positive number, got {sigma}")
    if radius < 0 or not math.isfinite(radius):
        raise UsageError(f"radius must be a finite number >= 0, got {radius}")
    if steps < 1 or samples < 1:
        raise UsageError(f"steps and samples must be >= 1, got steps={steps}, samples={samples}")
    x = x.detach()
    if radius == 0:
        return x.clone()
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    alpha = 2.5 * radius / steps if step_size is None else float(step_size)
    n = x.shape[0]
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            rep = x_adv.repeat_interleave(samples, dim=0)  # (N * m, C, H, W), example-major
            noise = torch.randn(rep.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
            probs = F.softmax(base(rep + sigma * noise), dim=1).view(n, samples, -1).mean(dim=1)  # G(x')
            loss = -torch.log(probs.gather(1, y.view(-1, 1)).clamp_min(1e-20)).sum()
            # a model whose output does not depend on its input (constant) gives no gradient: no move
            grad = torch.autograd.grad(loss, x_adv, allow_unused=True)[0] if loss.requires_grad else None
            grad = torch.zeros_like(x_adv) if grad is None else grad
        with torch.no_grad():
            norms = grad.flatten(1).norm(dim=1).clamp_min(1e-20).view(-1, *([1] * (x.ndim - 1)))
            x_adv = _project_l2(x_adv.detach() + alpha * grad / norms, x, radius, box)
    return x_adv.detach()
