"""Unbounded PGD: signed-gradient steps with no eps-ball, only the pixel box (P3 Sec. 4).

Paper: Helland and VanHoudnos, "On the Human-Recognizability Phenomenon of Adversarially
Trained Deep Image Classifiers" (P3), Sec. 4: "the targeted variant of Madry PGD Eq. (2.3)
[...] setting the perturbation budget to eps = inf i.e. we do not project the iterates at
all [...] a stepsize of 2/255 [...] 2,048 iterations", each perturbation "initialized with
random noise" (Fig. 4.2). Appendix F shows that model inversion is the same program.

Why signed steps: Eq. (2.3) steps along ``argmax_{||u|| <= 1} <u, g>``, and P3's attacks are
all l_inf attacks (its robustness profile is "an l_inf adversary using a stepsize 2/255");
with eps = inf the ball no longer constrains anything, so the norm only survives in the
step, which for l_inf is ``sign(g)``. A step of 2/255 is also a per-pixel length: as an
L2 step on a 3x32x32 image it would move a pixel by ~2/255/55 per iteration.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Attack, BaseConfig, Cost
from bench.steps import Steps
from bench.threat import ThreatModel
from bench.toolkit import pgd_steps, success

#: steps between checks for "every example already succeeded" (one host sync per chunk)
CHUNK = 32


class UnboundedPGDConfig(BaseConfig):
    """Parameters of :class:`UnboundedPGD` (defaults: P3 Sec. 4)."""

    steps: Steps = Field(2048, description="signed-gradient steps (P3: 2048)")
    step_size: float = Field(2 / 255, gt=0, description="per-pixel step length (P3: 2/255)")
    start: Literal["noise", "input"] = Field(
        "noise", description="'noise': uniform noise in the box (P3 Fig. 4.2); 'input': the clean image")
    loss: Literal["ce", "cw"] = Field("ce", description="'ce' cross-entropy (P3 Eq. 2.2) or 'cw' margin")
    early_stop: bool = Field(
        True, description="freeze each example at its first successful iterate and stop once all "
                          "are; false runs all steps, as P3 does for its images")


class UnboundedPGD(Attack):
    """Iterated signed-gradient steps clamped to the box, targeted or untargeted.

    ``x_{t+1} = clip_box(x_t + step_size * sign(grad_x obj(x_t)))`` where ``obj`` is
    ``CE(f(x), y)`` untargeted (maximised) or ``-CE(f(x), t)`` targeted (P3 Eq. 2.2: descend
    the target's loss). Threat model: ``unbounded`` (eps = inf; the box is the only
    constraint), so against an undefended model it should reach ~0 % accuracy: a model
    that resists it signals gradient masking rather than robustness.

    The start point ``x_0`` is uniform noise in the box drawn from the attack's generator
    (``start="noise"``, P3) -- the clean image then only supplies the label ``y`` -- or the
    clean image itself (``start="input"``). With ``early_stop`` (default, as the repo's
    :class:`~robarena_classics.attacks.pgd.PGD`) each example is frozen at its first
    successful iterate and the run stops once every example has succeeded, which makes the
    attack cheap on undefended models; ``early_stop=False`` runs all steps and returns the
    last iterate -- P3's program for its recognizability images, where the perturbation
    keeps moving toward the target class after the label has flipped.

    Args (``UnboundedPGDConfig``): steps=2048, step_size=2/255, start="noise", loss="ce",
    early_stop=True. ``seed``: seed of the generator that draws the noise start.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64, ``target`` (N,) or None;
    returns ``x_adv`` (N, C, H, W).

    Example::

        attack = UnboundedPGD(UnboundedPGD.Config(steps=200), seed=0)
        x_adv = attack(model, x, y, ThreatModel(norm="unbounded", targeted=True), target=t).x_adv
    """

    Config = UnboundedPGDConfig

    @classmethod
    def smoke_config(cls) -> UnboundedPGDConfig:
        """Conformance checks: 64 steps instead of P3's 2048."""
        return cls.Config(steps=64)
    norms = ("unbounded",)
    supports_targeted = True

    def cost(self, threat: ThreatModel) -> Cost:
        """Per example, an upper bound (``bench.api.cost``): ``steps`` forward + backward passes and, with
        ``early_stop``, 1 forward checking for success between chunks of ``CHUNK`` steps (``ceil(steps / CHUNK)
        - 1`` checks); no early stop counted."""
        cfg = self.config
        checks = math.ceil(cfg.steps / CHUNK) - 1 if cfg.early_stop else 0
        return Cost.steps(cfg.steps) + Cost(checks, 0)

    def start_point(self, x: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
        """``x_0``: uniform noise in ``threat.bounds`` (drawn on the generator's device) or ``x``."""
        if self.config.start == "input":
            return x.detach().clone()
        lo, hi = threat.bounds
        u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
        return lo + (hi - lo) * u

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        cfg = self.config
        x0 = self.start_point(x, threat, generator)
        lo, hi = threat.bounds
        # An Linf ball of radius hi - lo around any point of the box contains the whole box,
        # so projecting onto it is clamping to the box: the core PGD loop with sign steps
        # runs the unbounded program unchanged. With early stop it runs in chunks: an example
        # that succeeded in an earlier chunk is successful at the next chunk's start and so
        # frozen at once, so chunking changes nothing but lets the loop end when all are done.
        box = ThreatModel(norm="Linf", eps=hi - lo, bounds=threat.bounds)
        target = target if threat.targeted else None
        x_adv, left = x0, cfg.steps
        while left > 0:
            n = min(CHUNK, left) if cfg.early_stop else left
            x_adv = pgd_steps(model, x_adv, y, box, steps=n, step_size=cfg.step_size, loss=cfg.loss,
                              target=target, random_init=False, early_stop=cfg.early_stop)
            left -= n
            if left > 0:
                with torch.no_grad():
                    if bool(success(model(x_adv), y, target).all()):
                        break
        return x_adv
