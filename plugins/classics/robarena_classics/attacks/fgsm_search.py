"""FGSM with a search for the smallest step that fools the model (Foolbox's ``GradientSignAttack``).

Paper: Goodfellow, Shlens and Szegedy, ICLR 2015 (the step); the search is Foolbox's (Rauber et al.
2017; Foolbox 1.x/2.x ``FGSM``/``GradientSignAttack(epsilons=1000, max_epsilon=1)``), the protocol of
P4 Appendix F: "We set max perturbation size to 1 for FGSM attack, and the perturbation size will be
recorded as infinity if an attack fails to find the adversarial example for a test image."

The gradient ``g`` of the cross-entropy is taken once, at the clean input. The candidates are
``x_k = clip(x + eps_k * d)`` with ``d = sign(g)`` (Linf) or ``g / ||g||_2`` (L2) and
``eps_k = k * max_eps / steps``, ``k = 1..steps`` (Foolbox: ``linspace(0, max_epsilon, epsilons + 1)[1:]``);
an example's minimal perturbation is the first ``x_k`` the model misclassifies (an example already
misclassified has distance 0). The scan is linear because success need not be monotone in ``eps``.

Threat model: Linf or L2, untargeted. Returned: the minimal adversarial example when its distance
``||x_k - x||`` is at most the threat's eps, else the clean input (so the runner's robust accuracy at
eps is the fraction whose minimal FGSM perturbation exceeds eps -- P4's accuracy-vs-size curves), and
``extras["distance"]`` (N,): that distance, ``inf`` when no step up to ``max_eps`` fools the model.
By default the scan stops at the threat's eps (steps beyond it cannot change the robust accuracy at
eps; their distances are then reported as ``inf``); ``distances_beyond_eps=True`` scans to ``max_eps``.
At a given eps the robust accuracy is never above that of the single FGSM step of length eps (that
step is one of the candidates when eps is on the grid).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Attack, AttackOutput, BaseConfig, Cost
from bench.threat import ThreatModel
from bench.toolkit import input_gradient, steepest_direction


class FGSMSearchConfig(BaseConfig):
    """Parameters of :class:`FGSMSearch` (defaults: P4 Appendix F / Foolbox's GradientSignAttack)."""

    max_eps: float = Field(1.0, gt=0, description="largest step searched (P4: 1)")
    steps: int = Field(1000, ge=1, description="grid size: eps_k = k * max_eps / steps (Foolbox: 1000)")
    distances_beyond_eps: bool = Field(False, description="scan up to max_eps even past the threat's eps, for the "
                                                          "per-example distances (P4 Fig. 3); the robust accuracy "
                                                          "at eps is the same either way")


class FGSMSearch(Attack):
    """Smallest FGSM step on a grid up to ``max_eps`` that fools the model (module docstring).

    Args:
        config: :class:`FGSMSearchConfig` (max_eps=1.0, steps=1000, distances_beyond_eps=False).
        seed: unused (deterministic).

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,); returns
    ``AttackOutput(x_adv (N, C, H, W), {"distance": (N,)})``.
    """

    Config = FGSMSearchConfig
    norms = ("Linf", "L2")

    @classmethod
    def smoke_config(cls) -> BaseConfig:
        return cls.Config(steps=20)

    def cost(self, threat: ThreatModel) -> Cost:
        """Upper bound per example: 1 forward + 1 backward for the gradient, then the clean check and
        every grid step up to eps (or max_eps); the scan stops early once every example is fooled."""
        cfg = self.config
        reach = cfg.max_eps if cfg.distances_beyond_eps else min(cfg.max_eps, threat.eps)
        return Cost(forward=2.0 + math.floor(reach / cfg.max_eps * cfg.steps + 1e-9), backward=1.0)

    @torch.no_grad()
    def _predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x).argmax(dim=1)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> AttackOutput:
        cfg = self.config
        grad, _, _ = input_gradient(model, x, y, "ce", None)
        direction = steepest_direction(grad, threat.norm)
        lo, hi = threat.bounds
        n = x.shape[0]
        distance = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
        best = x.clone()
        active = self._predict(model, x) == y
        distance[~active] = 0.0
        for k in range(1, cfg.steps + 1):
            idx = active.nonzero().flatten()
            eps_k = k * cfg.max_eps / cfg.steps
            if idx.numel() == 0 or (not cfg.distances_beyond_eps and eps_k > threat.eps * (1 + 1e-9)):
                break
            cand = (x[idx] + eps_k * direction[idx]).clamp(lo, hi)
            fooled = self._predict(model, cand) != y[idx]
            if fooled.any():
                hit = idx[fooled]
                best[hit] = cand[fooled]
                diff = (cand[fooled] - x[hit]).flatten(1)
                distance[hit] = (diff.abs().amax(1) if threat.norm == "Linf" else diff.norm(dim=1)).double()
                active[hit] = False
        within = distance <= threat.eps * (1 + 1e-6)
        x_adv = torch.where(within.view(-1, *([1] * (x.dim() - 1))), best, x)
        return AttackOutput(threat.project(x_adv, x).detach(), {"distance": distance.to(x.dtype)})
