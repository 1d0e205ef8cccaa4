"""APGD-CE, APGD-DLR and APGD-T: AutoAttack's step-size-free PGD, Linf and L2, untargeted.

Paper: F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks", ICML 2020 (https://arxiv.org/abs/2003.01690). The
iteration, checkpoints and step-size rule are in :mod:`.aa_apgd_core`, the losses in
:mod:`.aa_losses`. Defaults are the paper's and AutoAttack's "standard" version: 100
iterations, one restart, ``rho = 0.75``, momentum ``alpha = 0.75``, initial step ``2 eps``,
and for APGD-T the 9 classes with the highest clean logits after the top one as targets.

Each attack runs only on the examples the model classifies correctly; later restarts (and
APGD-T's later target classes) only on those not fooled yet. Random starts are drawn for the
whole batch (see :mod:`.aa_common`), so an example's result never depends on the others.
"""
from __future__ import annotations

from typing import ClassVar, Optional

import torch
from pydantic import Field, model_validator
from torch import nn

from bench.api import Attack, BaseConfig, Cost
from bench.steps import Steps
from bench.threat import ThreatModel
from bench.toolkit import bcast
from robarena_classics.attacks.aa_apgd_core import apgd_run, apgd_start
from robarena_classics.attacks.aa_common import clean_correct
from robarena_classics.attacks.aa_losses import LOSSES


class APGDConfig(BaseConfig):
    """Parameters of APGD-CE and APGD-DLR (defaults: Croce and Hein 2020 / AutoAttack standard)."""

    n_iter: Steps = Field(100, description="iterations per run (paper: 100)")
    n_restarts: int = Field(1, ge=1, description="runs; later runs attack only the examples not yet fooled "
                                                 "(AutoAttack standard: 1)")
    rho: float = Field(0.75, gt=0, le=1, description="checkpoint condition 1: halve the step when fewer than "
                                                     "this fraction of steps increased the loss (paper: 0.75)")
    alpha: float = Field(0.75, ge=0, le=1, description="momentum weight of the new gradient step (paper: 0.75)")
    eot_iter: int = Field(1, ge=1, description="forward/backward passes averaged per step (expectation over "
                                               "transformation for randomized models; AutoAttack 'rand': 20)")
    random_start: bool = Field(True, description="start on the eps-sphere at a random point (as the reference "
                                                 "implementation); false starts at the clean input")

    @model_validator(mode="after")
    def _restarts_need_randomness(self) -> "APGDConfig":
        if self.n_restarts > 1 and not self.random_start:
            raise ValueError("n_restarts > 1 repeats the same deterministic run; set random_start = true")
        return self


class APGDTConfig(APGDConfig):
    """Parameters of APGD-T: those of APGD plus the number of target classes."""

    n_target_classes: int = Field(9, ge=1, description="targets: the classes with the 2nd, 3rd, ... largest "
                                                       "clean logit (paper: 9; capped at classes - 1)")


class _APGD(Attack):
    """Shared driver: restarts over the still-robust examples of one loss."""

    Config = APGDConfig

    @classmethod
    def smoke_config(cls) -> APGDConfig:
        """Conformance checks: 10 iterations instead of 100."""
        return cls.Config(n_iter=10)
    norms = ("Linf", "L2")
    supports_targeted = False
    loss: ClassVar[str] = "ce"

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.attack_active(model, x, y, threat, generator, clean_correct(model, x, y))

    def targets(self, model: nn.Module, x: torch.Tensor) -> list[Optional[torch.Tensor]]:
        """The target classes (N,) of each round of runs; ``[None]`` for an untargeted loss."""
        return [None]

    def active_cost(self, threat: ThreatModel) -> Cost:
        """Per example, an upper bound on :meth:`attack_active` (``bench.api.cost``): every round and restart
        runs ``n_iter + 1`` loss-gradient evaluations (the start and each iteration) of ``eot_iter`` forward +
        backward passes, with no early stop; APGD-T has ``n_target_classes`` rounds (capped at classes - 1 when
        run) and 1 more forward ranking the clean logits, the others 1 round."""
        cfg = self.config
        n_targets = getattr(cfg, "n_target_classes", None)
        runs = Cost.steps((cfg.n_iter + 1) * cfg.eot_iter) * ((n_targets or 1) * cfg.n_restarts)
        return runs + Cost(1, 0) if n_targets else runs

    def cost(self, threat: ThreatModel) -> Cost:
        """Per example, an upper bound: 1 forward for the clean-correct check, then :meth:`active_cost`."""
        return Cost(1, 0) + self.active_cost(threat)

    def attack_active(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
                      generator: torch.Generator, active: torch.Tensor) -> torch.Tensor:
        """Attack the examples where ``active`` (N,) is true; others come back unchanged.

        Per example the result is the first fooling iterate of the first run that fools it,
        else the highest-loss point over all runs (the first such run on ties).
        """
        cfg = self.config
        x_adv = x.detach().clone()
        best = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)
        todo = active.clone()
        for target in self.targets(model, x):
            for _ in range(cfg.n_restarts):
                idx = todo.nonzero().flatten()
                if idx.numel() == 0:
                    return x_adv
                start = apgd_start(x, threat, generator) if cfg.random_start else x
                res = apgd_run(model, x[idx], y[idx], threat, start[idx], loss_fn=LOSSES[self.loss],
                               n_iter=cfg.n_iter, rho=cfg.rho, alpha=cfg.alpha, eot_iter=cfg.eot_iter,
                               target=None if target is None else target[idx])
                take = res.fooled | (res.loss > best[idx])
                x_adv[idx] = torch.where(bcast(take, res.x_adv), res.x_adv, x_adv[idx])
                best[idx] = torch.where(take, res.loss, best[idx])
                todo[idx[res.fooled]] = False
        return x_adv


class APGDCE(_APGD):
    """APGD on the cross-entropy loss (AutoAttack's first member).

    Threat model: Linf or L2 ball of radius eps intersected with the box, untargeted.

    Args (``APGDConfig``): n_iter=100, n_restarts=1, rho=0.75, alpha=0.75, eot_iter=1,
    random_start=True. ``seed``: seed of the attack's generator (random starts).

    Returns, per example: the first iterate the model misclassifies; for an example never
    fooled, the point of highest loss; the clean input for a clean-misclassified one.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64; returns ``x_adv`` (N, C, H, W).

    Example::

        x_adv = APGDCE(seed=0)(model, x, y, ThreatModel(norm="Linf", eps=8 / 255)).x_adv
    """

    loss = "ce"


class APGDDLR(_APGD):
    """APGD on the untargeted DLR loss ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)``.

    The loss is shift- and scale-invariant in the logits (needs >= 3 classes). Threat model,
    arguments, return value and shapes as :class:`APGDCE`.
    """

    loss = "dlr"


class APGDT(_APGD):
    """APGD-T: APGD on the targeted DLR loss, one round of runs per target class, untargeted success.

    Targets are the classes with the 2nd, 3rd, ... ``(n_target_classes + 1)``-th largest logit
    on the clean input; each round attacks the examples that earlier rounds did not fool, on
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`` (needs >= 4 classes). An example
    counts as fooled when misclassified as any class, as in AutoAttack.

    Args (``APGDTConfig``): those of :class:`APGDCE` plus n_target_classes=9 (capped at
    classes - 1). Threat model, return value and shapes as :class:`APGDCE`.
    """

    Config = APGDTConfig

    @classmethod
    def smoke_config(cls) -> APGDTConfig:
        """Conformance checks: 10 iterations on 2 target classes."""
        return cls.Config(n_iter=10, n_target_classes=2)
    loss = "dlr-targeted"

    def targets(self, model: nn.Module, x: torch.Tensor) -> list[Optional[torch.Tensor]]:
        with torch.no_grad():
            order = model(x).argsort(dim=1, descending=True)
        n_targets = min(self.config.n_target_classes, order.shape[1] - 1)
        return [order[:, i] for i in range(1, n_targets + 1)]
