"""Per-example losses of AutoAttack's APGD: cross-entropy, DLR and targeted DLR.

Paper: Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020, Eq. (5) and (6). With ``z`` the logits and
``pi`` the ordering of its components in decreasing order (``z_pi1 >= z_pi2 >= ...``):

* ``DLR(z, y) = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`` (untargeted),
* ``DLR-T(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`` (targeted).

Both are invariant to shifting the logits and to rescaling them by a positive factor
(which is why they resist the gradient masking of a scaled softmax). DLR needs at least
three classes and DLR-T at least four; fewer raise :class:`~bench.errors.UsageError`.
All functions return the value the attack *maximises*, shape (N,).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from bench.errors import UsageError
from bench.toolkit import margin

#: the constant the paper adds to the DLR denominators
DLR_EPS = 1e-12

LossFn = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


def ce_loss(logits: torch.Tensor, y: torch.Tensor, target: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Cross-entropy ``CE(z, y)`` per example, shape (N,) (``target`` is ignored)."""
    return F.cross_entropy(logits, y, reduction="none")


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Untargeted DLR loss (paper Eq. 5) per example, shape (N,) (``target`` is ignored)."""
    if logits.shape[1] < 3:
        raise UsageError(
            f"the DLR loss needs at least 3 classes (it uses the third-largest logit); the model has "
            f"{logits.shape[1]}: use APGD-CE instead"
        )
    top = logits.topk(3, dim=1).values
    return -margin(logits, y) / (top[:, 0] - top[:, 2] + DLR_EPS)


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, target: Optional[torch.Tensor]) -> torch.Tensor:
    """Targeted DLR loss (paper Eq. 6) toward ``target`` (N,), per example, shape (N,)."""
    if logits.shape[1] < 4:
        raise UsageError(
            f"the targeted DLR loss needs at least 4 classes (it uses the fourth-largest logit); the "
            f"model has {logits.shape[1]}: use APGD-CE or APGD-DLR instead"
        )
    if target is None:
        raise UsageError("the targeted DLR loss needs target classes")
    top = logits.topk(4, dim=1).values
    z_y = logits.gather(1, y.view(-1, 1)).squeeze(1)
    z_t = logits.gather(1, target.view(-1, 1)).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + DLR_EPS)


LOSSES: dict[str, LossFn] = {"ce": ce_loss, "dlr": dlr_loss, "dlr-targeted": dlr_targeted_loss}
