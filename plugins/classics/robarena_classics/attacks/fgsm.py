"""FGSM: the fast gradient (sign) method, Linf and L2.

Paper: Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples",
ICLR 2015. The generic Lp form is P3 Appendix E: ``delta* = eps * phi(g) / ||phi(g)||``,
the steepest-ascent direction of the dual norm.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from bench.api import Attack, BaseConfig
from bench.threat import ThreatModel
from robarena_classics.attacks.core import input_gradient, steepest_direction


class FGSMConfig(BaseConfig):
    """FGSM has no parameters: one step of length eps on the cross-entropy loss."""


class FGSM(Attack):
    """One steepest-ascent step of length eps on the cross-entropy loss.

    Threat model: Linf (``delta = eps * sign(g)``) or L2 (``delta = eps * g / ||g||_2``),
    untargeted (ascend ``CE(f(x), y)``) or targeted (descend ``CE(f(x), t)``, i.e. step
    toward the target class), followed by clamping to the box. ``g`` is the gradient of
    the summed per-example loss with respect to the input; a zero gradient leaves the
    example unchanged.

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
        return threat.project(x + threat.eps * steepest_direction(grad, threat.norm), x).detach()
