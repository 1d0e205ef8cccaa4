"""PGD: projected gradient descent with random start and restarts, Linf and L2.

Paper: Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant
to Adversarial Attacks", ICLR 2018. Defaults follow P0's evaluation protocol: 20 steps,
random start, one run, with the step scaled to the threat: Linf ``eps / 4`` (exactly P0's
2/255 at eps 8/255) and L2 ``2.5 * eps / steps`` (Madry et al.'s rule; P0 gives no L2 value),
so the default reaches the eps boundary at every radius (:func:`bench.stats.default_step_size`).
``loss="cw"`` gives P0's "CW-Linf" (the Carlini-Wagner margin loss solved by PGD with the
same settings).
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import Field, model_validator
from torch import nn

from bench.api import Attack, BaseConfig, Cost
from bench.steps import ScaledStepsMixin, Steps
from bench.threat import ThreatModel
from robarena_classics.attacks.core import pgd_restarts


class PGDConfig(ScaledStepsMixin, BaseConfig):
    """Parameters of :class:`PGD` (defaults: P0's PGD-20 evaluation)."""

    steps: Steps = Field(20, description="gradient steps per run (P0: 20)")
    step_size: Optional[float] = Field(
        None, gt=0,
        description="absolute step length; None (default) = scaled to the threat: Linf eps / 4 (P0's 2/255 at "
                    "eps 8/255), L2 2.5 * eps / steps (Madry et al.)",
    )
    random_start: bool = Field(True, description="start uniformly inside the eps-ball")
    restarts: int = Field(1, ge=1, description="runs; later runs only attack examples not yet fooled")
    loss: Literal["ce", "cw"] = Field("ce", description="'ce' cross-entropy or 'cw' margin loss (P0's CW-Linf)")
    early_stop: bool = Field(True, description="freeze each example at its first successful iterate")
    batched_restarts: bool = Field(
        False, description="run all restarts as one batch of restarts x N examples: same result, fewer and larger "
                           "passes (for accelerators; on a CPU the sequential default does less work)")

    @model_validator(mode="after")
    def _restarts_need_randomness(self) -> "PGDConfig":
        if self.restarts > 1 and not self.random_start:
            raise ValueError("restarts > 1 repeats the same deterministic run; set random_start = true")
        return self



class PGD(Attack):
    """Projected gradient ascent on CE or the CW margin, untargeted or targeted.

    Threat model: Linf or L2 ball of radius eps intersected with the box. Each step moves
    ``step_size`` along ``sign(g)`` (Linf) or ``g / ||g||_2`` (L2), ``g`` being the gradient
    of the summed per-example objective w.r.t. the input (``torch.autograd.grad``; model
    parameters and their ``.grad`` are untouched), then projects onto the ball and clamps
    to the box. Targeted attacks descend the target's CE (or ascend the target's margin).

    Random start: uniform in the Linf ball, or uniform in the L2 ball (uniform direction,
    radius ``eps * u^(1/d)``), drawn from the attack's own generator (seeded by ``seed``),
    for the full batch at every restart (so an example's runs never depend on the others,
    and ``batched_restarts`` gives the same result as the sequential runs).

    What is returned, per example:

    * with ``early_stop`` (default), the first iterate of the first run at which the model
      misclassifies it (untargeted) or predicts the target (targeted); such an example is
      frozen, so later steps never un-fool it. From the same start, the trajectory of an
      example that is never fooled is exactly the trajectory without freezing, so freezing
      only adds successes (those found at an intermediate iterate and lost by the last
      one). Every returned example lies inside the threat model; scoring is the runner's
      own forward pass;
    * for an example that no run fools, the last iterate of the run with the highest
      objective (loss) among the runs.

    Args (``PGDConfig``): steps=20, step_size=None (Linf eps / 4, L2 2.5 * eps / steps),
    random_start=True, restarts=1, loss="ce", early_stop=True, batched_restarts=False.
    ``seed``: seed of the attack's generator.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64, ``target`` (N,) or None;
    returns ``x_adv`` (N, C, H, W).

    Example::

        attack = PGD(PGD.Config(steps=50, restarts=10), seed=0)
        x_adv = attack(model, x, y, ThreatModel(norm="Linf", eps=8 / 255)).x_adv
    """

    Config = PGDConfig
    norms = ("Linf", "L2")
    supports_targeted = True

    def step_size_for(self, threat: ThreatModel) -> float:
        """The absolute step length used for ``threat``."""
        return self.config.absolute_step(threat)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        cfg = self.config
        result = pgd_restarts(
            model, x, y, threat, restarts=cfg.restarts, generator=generator, steps=cfg.steps,
            step_size=self.step_size_for(threat), loss=cfg.loss,
            target=target if threat.targeted else None, random_init=cfg.random_start,
            early_stop=cfg.early_stop, batched=cfg.batched_restarts,
        )
        return result.x_adv

    def cost(self, threat: ThreatModel) -> Cost:
        """Per example, an upper bound (``bench.api.cost``): each restart ``steps`` forward + backward passes
        and 1 forward scoring its result."""
        return (Cost.steps(self.config.steps) + Cost(1, 0)) * self.config.restarts
