"""DeepFool: the minimal-perturbation attack by iterated linearisation, L2 and Linf.

Paper: Moosavi-Dezfooli, Fawzi and Frossard, "DeepFool: a simple and accurate method to fool
deep neural networks", CVPR 2016 (Algorithm 2, multiclass; Sec. 3.3 for general Lp). P1
uses a minimal-perturbation attack to measure the instance-space margin (its Definition 6:
the distance from x to the closest point of the decision boundary). Written here because
the benchmark needs per-example distances with failures as ``inf``, box clamping and a
batched, deterministic loop in pure torch. :class:`~robarena_classics.attacks.fab.FAB`
reuses its linearisation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Attack, AttackOutput, BaseConfig, Cost
from bench.errors import UsageError
from bench.steps import Steps
from bench.threat import ThreatModel
from bench.toolkit import bcast

#: added to every linearised step length, as in the authors' reference code: it keeps the
#: iteration moving when the linearised distance is ~0
STEP_SLACK = 1e-4


class DeepFoolConfig(BaseConfig):
    """Parameters of :class:`DeepFool` (defaults: the paper and its reference code)."""

    overshoot: float = Field(0.02, ge=0, description="final step scale 1 + overshoot (paper: 0.02)")
    max_iter: Steps = Field(50, description="linearisation steps (reference code: 50)")
    candidates: Optional[int] = Field(
        None, ge=2, description="classes considered, the true one included: the top ones by clean "
                                "logit (reference code: 10 for ImageNet); None = all classes")


def rival_count(candidates: Optional[int], num_classes: Optional[int]) -> Optional[int]:
    """How many rival classes :func:`rival_classes` keeps: ``candidates - 1`` capped at ``num_classes - 1``;
    None when both are unknown (for the ``cost`` hooks)."""
    known = [k for k in (candidates, num_classes) if k is not None]
    return min(known) - 1 if known else None


def rival_classes(logits: torch.Tensor, y: torch.Tensor, candidates: Optional[int]) -> torch.Tensor:
    """(N, R) rival classes: all others, or the ``candidates - 1`` largest clean logits."""
    k = logits.shape[1]
    if k < 2:
        raise UsageError("a minimal-perturbation attack needs a model with at least 2 classes")
    r = k - 1 if candidates is None else min(candidates, k) - 1
    return logits.scatter(1, y.view(-1, 1), float("-inf")).topk(r, dim=1).indices


@dataclass
class Linearisation:
    """The nearest linearised boundary at ``x_i``: rival ``s = argmin_k |f_k| / ||w_k||_q``.

    ``logits`` (N, K) at ``x_i``; ``f`` (N,) = ``(f_s - f_y)(x_i)``; ``w`` (N, ...) its input
    gradient; ``dist`` (N,) = ``|f| / ||w||_q`` (``inf`` where every rival has a zero gradient).
    """

    logits: torch.Tensor
    f: torch.Tensor
    w: torch.Tensor
    dist: torch.Tensor


def nearest_linear_boundary(model: nn.Module, x_i: torch.Tensor, y: torch.Tensor, rivals: torch.Tensor,
                            norm: str) -> Linearisation:
    """Linearise ``f_k - f_y`` at ``x_i`` for every rival (one backward pass each) and keep the
    closest hyperplane in the dual norm ``q`` of ``norm`` (L2: 2; Linf: 1)."""
    xg = x_i.detach().requires_grad_(True)
    logits = model(xg)
    diffs = logits.gather(1, rivals) - logits.gather(1, y.view(-1, 1))      # (N, R), < 0 while y wins
    if not diffs.requires_grad:
        raise UsageError("the model's output does not depend differentiably on its input; "
                         "minimal-perturbation attacks need input gradients")
    n = x_i.shape[0]
    best = Linearisation(logits.detach(), torch.zeros(n, dtype=x_i.dtype, device=x_i.device),
                         torch.zeros_like(x_i), torch.full((n,), math.inf, dtype=x_i.dtype, device=x_i.device))
    for j in range(rivals.shape[1]):
        (w,) = torch.autograd.grad(diffs[:, j].sum(), xg, retain_graph=j + 1 < rivals.shape[1], allow_unused=True)
        w = torch.zeros_like(x_i) if w is None else w
        flat = w.flatten(1)
        dual = flat.abs().sum(dim=1) if norm == "Linf" else flat.norm(p=2, dim=1)
        f = diffs[:, j].detach()
        dist = torch.where(dual > 0, f.abs() / dual.clamp_min(1e-12), torch.full_like(f, math.inf))
        closer = dist < best.dist
        best.dist = torch.where(closer, dist, best.dist)
        best.f = torch.where(closer, f, best.f)
        best.w = torch.where(bcast(closer, w), w, best.w)
    return best


def minimal_output(x_best: torch.Tensor, x: torch.Tensor, fooled: torch.Tensor, threat: ThreatModel) -> AttackOutput:
    """``distance`` (inf where not ``fooled``) and ``x_adv``: ``x_best`` where fooled within eps, else ``x``."""
    dist = threat.distance(x_best, x)
    dist = torch.where(fooled, dist, torch.full_like(dist, math.inf))
    keep = fooled & (dist <= threat.eps)
    return AttackOutput(torch.where(bcast(keep, x), x_best, x).detach(), {"distance": dist.detach()})


class DeepFool(Attack):
    """Walk to the nearest linearised decision boundary until the label flips.

    At iterate ``x_i`` (while the model still predicts ``y``), for each rival class ``k``
    ``w_k = grad (f_k - f_y)(x_i)`` and ``f_k = (f_k - f_y)(x_i)``; the closest linearised
    boundary is ``l = argmin_k |f_k| / ||w_k||_q`` with ``q`` the dual norm (L2: ``q = 2``;
    Linf: ``q = 1``), and the step onto it is ``r_i = (|f_l| / ||w_l||_2 + 1e-4) w_l / ||w_l||_2``
    (L2) or ``r_i = (|f_l| / ||w_l||_1 + 1e-4) sign(w_l)`` (Linf). Steps accumulate into
    ``r``, and ``x_{i+1} = clip_box(x + (1 + overshoot) r)``. On an affine model one step
    lands exactly ``(1 + overshoot)`` times (the distance to the nearest boundary + 1e-4)
    away, across it.

    Untargeted only. ``extras["distance"]`` (N,) is the threat-norm distance of the final
    iterate when the model misclassifies it (0 for an already misclassified input) and
    ``inf`` when ``max_iter`` steps did not succeed; it upper-bounds the instance-space
    margin of P1. Threat model Linf or L2: an example whose distance exceeds eps (or that
    failed) is returned as the *clean input*, so the runner counts it as robust; set a
    large eps to measure distances only.

    Args (``DeepFoolConfig``): overshoot=0.02, max_iter=50, candidates=None (all classes).
    ``seed``: unused (deterministic).

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64; returns
    ``AttackOutput(x_adv (N, C, H, W), {"distance": (N,)})``. Costs one backward pass per
    candidate rival per step.

    Example::

        out = DeepFool()(model, x, y, ThreatModel(norm="L2", eps=100.0))
        margins = out.extras["distance"]
    """

    Config = DeepFoolConfig
    norms = ("Linf", "L2")
    supports_targeted = False

    def cost(self, threat: ThreatModel, num_classes: Optional[int] = None) -> Optional[Cost]:
        """Per example, an upper bound (``bench.api.cost``): 1 forward ranking the rivals, then ``max_iter + 1``
        linearisations (no early stop), each 1 forward and 1 backward per rival class (``candidates - 1``,
        capped at ``num_classes - 1``); None when both ``candidates`` and ``num_classes`` are None."""
        cfg = self.config
        rivals = rival_count(cfg.candidates, num_classes)
        return None if rivals is None else Cost(1, 0) + Cost(1, rivals) * (cfg.max_iter + 1)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> AttackOutput:
        cfg = self.config
        x = x.detach()
        with torch.no_grad():
            rivals = rival_classes(model(x), y, cfg.candidates)
        r_tot = torch.zeros_like(x)
        x_i = x.clone()
        for it in range(cfg.max_iter + 1):
            lin = nearest_linear_boundary(model, x_i, y, rivals, threat.norm)
            active = lin.logits.argmax(dim=1) == y
            if it == cfg.max_iter or not bool(active.any()):
                break
            flat = lin.w.flatten(1)
            if threat.norm == "Linf":
                unit = lin.w.sign()
            else:
                unit = lin.w / bcast(flat.norm(p=2, dim=1).clamp_min(1e-12), lin.w)
            step = bcast(lin.dist + STEP_SLACK, x) * unit
            r_tot = r_tot + torch.where(bcast(active & torch.isfinite(lin.dist), x), step, torch.zeros_like(x))
            x_i = (x + (1.0 + cfg.overshoot) * r_tot).clamp(*threat.bounds)
        # the last linearisation's logits are those of the final x_i
        return minimal_output(x_i, x, ~active, threat)
