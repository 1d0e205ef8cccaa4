"""FGSM: the fast gradient (sign) method, Linf and L2, and its generic Lp form.

Paper: Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples",
ICLR 2015. The generic Lp form is P3 Appendix E: the one-step maximiser of the linearised
loss over the Lp ball, ``delta* = eps * phi_{q-1}(g) / ||phi_{q-1}(g)||_p`` with
``1/p + 1/q = 1`` and ``phi_r(v) = sign(v) |v|^r`` (entry-wise).
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import nn

from bench.api import Attack, BaseConfig, Cost
from bench.errors import UsageError
from bench.threat import ThreatModel
from bench.toolkit import input_gradient, steepest_direction

_P_OF_NORM = {"Linf": math.inf, "L2": 2.0}


def lp_steepest_direction(grad: torch.Tensor, p: Union[float, str]) -> torch.Tensor:
    """argmax_{||u||_p <= 1} <u, g> per example, for any ``p >= 1`` (P3 Appendix E).

    For ``1 < p < inf`` the maximiser is ``phi_{q-1}(g) / ||phi_{q-1}(g)||_p`` with
    ``q = p / (p - 1)`` the dual exponent, and ``<u, g> = ||g||_q`` (Hoelder's inequality
    holds with equality). The limits are ``sign(g)`` for ``p = inf`` (``q = 1``) and, for
    ``p = 1`` (``q = inf``), all the mass on one coordinate of largest ``|g|`` (the first
    such coordinate), with ``g``'s sign.

    P3's main text (after Eq. 3.1) writes the normaliser as ``||.||_q``; its Appendix E
    derivation gives ``||.||_p``, which is the one that makes ``||u||_p = 1``.

    ``p = 2`` and ``p = inf`` (also spelled ``"L2"`` / ``"Linf"``) use
    :func:`~robarena_classics.attacks.core.steepest_direction`, so FGSM and PGD share one
    code path. A zero gradient gives a zero direction.

    Args:
        grad: (N, ...) gradients; each example is handled separately.
        p: the norm's exponent (float >= 1 or ``math.inf``) or ``"Linf"`` / ``"L2"``.
    Returns:
        (N, ...) directions with ``||u_i||_p = 1`` (or 0 where ``g_i = 0``).
    """
    if isinstance(p, str):
        if p not in _P_OF_NORM:
            raise UsageError(f"unknown norm {p!r}; use a number p >= 1, math.inf, 'Linf' or 'L2'")
        p = _P_OF_NORM[p]
    p = float(p)
    if math.isnan(p) or p < 1.0:
        raise UsageError(f"an Lp norm needs p >= 1 (got {p})")
    if math.isinf(p):
        return steepest_direction(grad, "Linf")
    if p == 2.0:
        return steepest_direction(grad, "L2")
    flat = grad.flatten(1)
    if p == 1.0:
        idx = flat.abs().argmax(dim=1, keepdim=True)
        u = torch.zeros_like(flat).scatter_(1, idx, flat.gather(1, idx).sign())
        return u.view_as(grad)
    q = p / (p - 1.0)
    # phi_{q-1} is homogeneous, so scale by the largest entry first: |g|^(q-1) then neither
    # overflows nor underflows for p near 1 (q - 1 large) or p large (q - 1 near 0).
    scale = flat.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(flat.dtype).tiny)
    v = flat.sign() * (flat.abs() / scale).pow(q - 1.0)
    norms = v.norm(p=p, dim=1, keepdim=True).clamp_min(1e-12)
    return (v / norms).view_as(grad)


def lp_fgsm_delta(grad: torch.Tensor, p: Union[float, str], eps: float) -> torch.Tensor:
    """The generic Lp FGSM perturbation ``eps * lp_steepest_direction(grad, p)`` (P3 Eq. E).

    It maximises ``<delta, g>`` over ``||delta||_p <= eps``, with value ``eps * ||g||_q``, so
    on an affine loss it is the exact one-step worst case (before any box clamping).
    """
    if eps < 0:
        raise UsageError(f"eps must be >= 0 (got {eps})")
    return eps * lp_steepest_direction(grad, p)


class FGSMConfig(BaseConfig):
    """FGSM has no parameters: one step of length eps on the cross-entropy loss."""


class FGSM(Attack):
    """One steepest-ascent step of length eps on the cross-entropy loss.

    Threat model: Linf (``delta = eps * sign(g)``) or L2 (``delta = eps * g / ||g||_2``),
    untargeted (ascend ``CE(f(x), y)``) or targeted (descend ``CE(f(x), t)``, i.e. step
    toward the target class), followed by clamping to the box. ``g`` is the gradient of
    the summed per-example loss with respect to the input; a zero gradient leaves the
    example unchanged. Both are :func:`lp_fgsm_delta` at ``p = inf`` and ``p = 2``; the
    core threat models have no other Lp ball, so other ``p`` are available as a function.

    On an affine binary classifier away from the box edges this single step is the exact
    Linf worst case (the loss gradient has the constant sign pattern of ``w_other - w_y``).

    Args:
        config: :class:`FGSMConfig` (empty).
        seed: unused (FGSM is deterministic); accepted for the common interface.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64, ``target`` (N,) or None;
    returns ``x_adv`` (N, C, H, W).

    Example::

        x_adv = FGSM()(model, x, y, ThreatModel(norm="Linf", eps=8 / 255)).x_adv
    """

    Config = FGSMConfig
    norms = ("Linf", "L2")
    supports_targeted = True

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        target = target if threat.targeted else None
        grad, _, _ = input_gradient(model, x, y, "ce", target)
        return threat.project(x + lp_fgsm_delta(grad, threat.norm, threat.eps), x).detach()

    def cost(self, threat: ThreatModel) -> Cost:
        """1 forward + 1 backward pass per example (``bench.api.cost``)."""
        return Cost.steps(1)
