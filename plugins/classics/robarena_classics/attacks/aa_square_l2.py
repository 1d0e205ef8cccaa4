"""The L2 sampling distribution of the Square Attack (Andriushchenko et al., ECCV 2020, Sec. 3.2, Alg. 3).

Updates are square windows filled with a *meta pseudo-Gaussian* pattern: two stacked
"pseudo-Gaussian" bumps of opposite sign (:func:`meta_pattern`), randomly transposed. At each
step, per example, a window ``W1`` receives the pattern (one random sign per channel) added
to its current normalised content, a second window ``W2`` is zeroed, and the mass freed in
``W2`` (plus the budget not yet used) is given to ``W1``; the perturbation is then rescaled
to L2 norm eps and clamped to the box. The initialisation tiles the image with bumps of side
``max(H // 5, 1)`` with random signs. Window sides: ``max(round(sqrt(p H W)), 3)``, made odd
and capped at ``min(H, W)``. All draws are for the whole batch (see :mod:`.aa_common`).

Written here rather than taken from a library: no maintained PyTorch package provides it
with per-example, generator-driven randomness (AutoAttack's own code shares one window
position across the batch and draws from the global RNG).
"""
from __future__ import annotations

import math

import torch

from bench.threat import ThreatModel
from bench.toolkit import bcast
from robarena_classics.attacks.aa_common import random_ints, random_signs, uniform


def pseudo_gaussian(rows: int, cols: int) -> torch.Tensor:
    """A (rows, cols) bump with unit L2 norm: concentric rectangles around the centre
    ``(rows // 2, cols // 2)``, the k-th (k = 0, 1, ...) adding ``1 / (k + 1)^2`` to its pixels."""
    bump = torch.zeros(rows, cols, dtype=torch.float64)
    if bump.numel() == 0:
        return bump
    ch, cw = rows // 2, cols // 2
    for k in range(max(ch + 1, cw + 1)):
        bump[max(ch - k, 0):min(ch + k + 1, rows), max(cw - k, 0):min(cw + k + 1, cols)] += 1.0 / (k + 1) ** 2
    return bump / bump.norm()


def meta_pattern(s: int) -> torch.Tensor:
    """The (s, s) meta pseudo-Gaussian: a bump on the top ``s // 2`` rows and the negated bump
    on the other rows, normalised to unit L2 norm (paper Sec. 3.2, "two subsquares")."""
    pattern = torch.cat([pseudo_gaussian(s // 2, s), -pseudo_gaussian(s - s // 2, s)], dim=0)
    return pattern / pattern.norm()


def _patterns(s: int, n_all: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """(N, 1, s, s): the meta pattern, transposed for a uniformly drawn half of the examples."""
    base = meta_pattern(s).to(device=like.device, dtype=like.dtype)
    flip = uniform((n_all,), generator, like) > 0.5
    return torch.where(flip[:, None, None], base.t(), base).unsqueeze(1)


def _unit(delta: torch.Tensor) -> torch.Tensor:
    return delta / bcast(delta.flatten(1).norm(p=2, dim=1).clamp_min(1e-12), delta)


def l2_init(x_all: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
    """Initial points for the whole batch: tiled bumps with random signs, rescaled to norm eps, clamped."""
    n_all, c, h, w = x_all.shape
    s = max(h // 5, 1)
    starts_h = [v for v in range(max((h - 5 * s) // 2, 0), h, s) if v + s <= h]
    starts_w = [v for v in range(max((w - 5 * s) // 2, 0), w, s) if v + s <= w]
    delta = torch.zeros_like(x_all)
    for vh in starts_h:
        for vw in starts_w:
            pattern = _patterns(s, n_all, generator, x_all)
            delta[:, :, vh:vh + s, vw:vw + s] += pattern * random_signs((n_all, c, 1, 1), generator, x_all)
    return (x_all + threat.eps * _unit(delta)).clamp(*threat.bounds)


def l2_side(p: float, h: int, w: int) -> int:
    """Window side at fraction ``p``: ``max(round(sqrt(p H W)), 3)``, made odd, capped at min(H, W)."""
    s = max(int(round(math.sqrt(p * h * w))), 3)
    s += 1 - s % 2
    return min(s, h, w)


def l2_propose(x: torch.Tensor, x_best: torch.Tensor, threat: ThreatModel, p: float, pos: torch.Tensor,
               n_all: int, generator: torch.Generator) -> torch.Tensor:
    """One proposal for the examples at batch positions ``pos`` (n,), from their ``x_best``."""
    n, c, h, w = x.shape
    dev = x.device
    s = l2_side(p, h, w)
    vh, vw, vh2, vw2 = (random_ints(size - s + 1, n_all, generator, dev)[pos] for size in (h, w, h, w))
    pattern = _patterns(s, n_all, generator, x)[pos] * random_signs((n_all, c, 1, 1), generator, x)[pos]
    rows, cols, offs = torch.arange(h, device=dev), torch.arange(w, device=dev), torch.arange(s, device=dev)

    def mask(top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:  # (n, 1, H, W)
        in_h = (rows >= top[:, None]) & (rows < top[:, None] + s)
        in_w = (cols >= left[:, None]) & (cols < left[:, None] + s)
        return in_h[:, None, :, None] & in_w[:, None, None, :]

    index = (torch.arange(n, device=dev).view(n, 1, 1, 1), torch.arange(c, device=dev).view(1, c, 1, 1),
             (vh[:, None] + offs).view(n, 1, s, 1), (vw[:, None] + offs).view(n, 1, 1, s))
    delta = x_best - x
    window = delta[index]                                              # (n, c, s, s): W1's content
    norm_window = window.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
    norm_image = bcast(delta.flatten(1).norm(p=2, dim=1), delta)
    union = mask(vh, vw) | mask(vh2, vw2)
    norm_union = (delta * union).pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()
    new = pattern + window / (1e-10 + norm_window)
    new = new / new.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    new = new * ((threat.eps ** 2 - norm_image ** 2).clamp_min(0) / c + norm_union ** 2).sqrt()
    delta = delta.masked_fill(mask(vh2, vw2), 0.0)
    delta[index] = new
    return (x + threat.eps * _unit(delta)).clamp(*threat.bounds)
