"""Guess-First training objectives on a score matrix ``T[i, k] = T(x_i, k)`` (P4 Sec. 2.2, Appendix A).

The network T(x, y) is trained to tighten a variational lower bound of a divergence between
the joint ``P = P_XY`` and the product of marginals ``Q = P_X (x) P_Y``; at the optimum T is
a monotone function of the density ratio ``p(x, y) / (p(x) p(y)) = p(y | x) / p(y)``, so with
uniform labels ``argmax_y T(x, y)`` is the Bayes prediction.

Estimation within a batch ``(x_i, y_i), i = 1..B`` (P4 Sec. 2.2): the joint expectation
averages ``T[i, y_i]``; the marginal one pairs every sample with every one of the K labels
(uniform label hypotheses broadcast over the batch), i.e. averages all B x K entries.

* JS (Eq. 2; f-GAN, Nowozin et al. 2016, with output activation ``g(v) = log 2 - log(1 + e^-v)``
  and conjugate ``f*(t) = -log(2 - e^t)``): ``E_P[log sigma(T)] + E_Q[log(1 - sigma(T))] + log 4``,
  a lower bound of ``2 JS(P || Q)``, tight at ``T = log(p / q)``.
* DV (Eq. 4; Donsker-Varadhan, as in MINE, Belghazi et al. 2018): ``E_P[T] - log E_Q[e^T]``,
  a lower bound of ``KL(P || Q)``, tight at ``T = log(p / q) + const``.
* energy (Eq. 5-6; Poole et al. 2018): ``E_P[T(x, y) - log 1/K sum_k e^{T(x, k)}]``, which is
  ``log K`` minus the cross-entropy of the logits T: the usual softmax classifier.

Each ``*_objective`` returns the bound (to maximise); ``loss`` returns its negation.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from bench.errors import UsageError

Objective = Literal["js", "dv", "energy"]
OBJECTIVES: tuple[str, ...] = ("js", "dv", "energy")


def _joint(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if t.dim() != 2 or y.shape != t.shape[:1]:
        raise UsageError(f"objectives need T (B, K) and labels (B,), got {tuple(t.shape)} and {tuple(y.shape)}")
    return t.gather(1, y.view(-1, 1)).squeeze(1)


def js_objective(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """P4 Eq. 2: ``mean_i log sigma(T[i, y_i]) + mean_{i,k} log(1 - sigma(T[i, k])) + log 4``."""
    return -F.softplus(-_joint(t, y)).mean() - F.softplus(t).mean() + math.log(4.0)


def dv_objective(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """P4 Eq. 4: ``mean_i T[i, y_i] - log mean_{i,k} exp(T[i, k])`` (log-sum-exp for stability)."""
    return _joint(t, y).mean() - (torch.logsumexp(t.flatten(), 0) - math.log(t.numel()))


def energy_objective(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """P4 Eq. 6: ``mean_i [T[i, y_i] - log 1/K sum_k exp T[i, k]]`` = log K - CE(T, y)."""
    return (_joint(t, y) - torch.logsumexp(t, 1) + math.log(t.shape[1])).mean()


_FUNCTIONS = {"js": js_objective, "dv": dv_objective, "energy": energy_objective}


def objective(name: str, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The named bound (``"js"``, ``"dv"`` or ``"energy"``) of scores ``t`` (B, K) and labels ``y`` (B,)."""
    if name not in _FUNCTIONS:
        raise UsageError(f"unknown Guess-First objective {name!r}; expected one of {sorted(_FUNCTIONS)}")
    return _FUNCTIONS[name](t, y)


def loss(name: str, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss: the negated bound."""
    return -objective(name, t, y)
