"""EOT-PGD: PGD on the expected loss of a randomized model (Expectation over Transformation).

Paper: Athalye, Engstrom, Ilyas and Kwok, "Synthesizing Robust Adversarial Examples", ICML
2018, and Athalye, Carlini and Wagner, "Obfuscated Gradients Give a False Sense of
Security", ICML 2018, Sec. 4.2: against a defense that samples a transformation t at
every forward pass, ascend ``E_t[L(f(t(x)))]`` with the Monte-Carlo gradient
``(1/k) sum_s grad L(f(t_s(x)))``. Default ``eot_samples = 20``: the number of EOT
iterations AutoAttack uses in its "rand" version for randomized defenses (Croce and Hein,
ICML 2020; ``eot_iter=20`` for APGD-CE and APGD-DLR there).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal, Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Attack, BaseConfig, Cost
from bench.steps import ScaledStepsMixin, Steps
from bench.threat import ThreatModel
from bench.toolkit import input_gradient, random_start, steepest_direction


@contextmanager
def private_global_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Run a block with the global RNG (CPU, and ``device``'s if it is an accelerator) seeded
    with ``seed``, and restore the caller's global RNG state afterwards.

    A randomized defense draws its noise from the global RNG inside ``forward``; EOT must let
    it (each sample needs fresh noise, so nothing is reseeded between passes), yet an attack
    may neither depend on nor change the caller's global RNG.
    """
    accel = device.type != "cpu"
    with torch.random.fork_rng(devices=[device] if accel else [], device_type=device.type if accel else None):
        torch.default_generator.manual_seed(seed)
        if accel:
            state = torch.Generator(device=device).manual_seed(seed).get_state()
            torch.get_device_module(device.type).set_rng_state(state, device)
        yield


class PGDEOTConfig(ScaledStepsMixin, BaseConfig):
    """Parameters of :class:`PGDEOT` (PGD defaults of P0; EOT samples of AutoAttack's "rand")."""

    steps: Steps = Field(20, description="gradient steps (P0: 20)")
    step_size: Optional[float] = Field(
        None, gt=0, description="absolute step; None (default) = scaled to the threat as PGD's: Linf eps / 4 "
                                "(P0's 2/255 at eps 8/255), L2 2.5 * eps / steps (Madry et al.)")
    random_start: bool = Field(True, description="start uniformly inside the eps-ball")
    loss: Literal["ce", "cw"] = Field("ce", description="'ce' cross-entropy or 'cw' margin loss")
    eot_samples: int = Field(20, ge=1, description="forward/backward passes averaged per step (AutoAttack rand: 20)")



class PGDEOT(Attack):
    """PGD whose every step follows the gradient summed over ``eot_samples`` stochastic passes.

    Threat model: Linf or L2 ball intersected with the box, untargeted or targeted, as
    :class:`~robarena_classics.attacks.pgd.PGD`: ``x_{t+1} = P(x_t + alpha * dir(G_t))``
    with ``G_t = sum_{s=1..k} grad_x obj(f_s(x_t))`` (the sum and the mean have the same
    sign / L2 direction) and ``dir`` = sign (Linf) or ``G / ||G||_2`` (L2). The last iterate
    is returned: with a stochastic model one lucky pass proves nothing, so there is no
    early stop.

    Randomness: the start point comes from the attack's generator. The model's own noise
    comes from torch's global RNG, which EOT never reseeds between passes; for the call it
    is seeded once from the attack's generator inside :func:`private_global_rng`, so the
    attack is deterministic for a seed and leaves the caller's global RNG state unchanged.
    On a deterministic model EOT-PGD with any ``k`` takes exactly PGD's Linf steps (and
    PGD's L2 steps up to float rounding) for the same seed.

    Args (``PGDEOTConfig``): steps=20, step_size=None (Linf eps / 4, L2 2.5 * eps / steps),
    random_start=True, loss="ce", eot_samples=20. ``seed``: seed of the attack's generator.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64, ``target`` (N,) or None;
    returns ``x_adv`` (N, C, H, W).

    Example::

        attack = PGDEOT(PGDEOT.Config(steps=50, eot_samples=20), seed=0)
        x_adv = attack(randomized_model, x, y, ThreatModel(norm="Linf", eps=8 / 255)).x_adv
    """

    Config = PGDEOTConfig
    norms = ("Linf", "L2")
    supports_targeted = True

    def step_size_for(self, threat: ThreatModel) -> float:
        """The absolute step length used for ``threat``."""
        return self.config.absolute_step(threat)

    def cost(self, threat: ThreatModel) -> Cost:
        """Per example, exact (no early stop): ``steps x eot_samples`` forward + backward passes."""
        return Cost.steps(self.config.steps * self.config.eot_samples)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        cfg = self.config
        target = target if threat.targeted else None
        alpha = self.step_size_for(threat)
        x = x.detach()
        x_adv = random_start(x, threat, generator) if cfg.random_start else x.clone()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        with private_global_rng(x.device, seed):
            for _ in range(cfg.steps):
                total = torch.zeros_like(x)
                for _ in range(cfg.eot_samples):
                    grad, _, _ = input_gradient(model, x_adv, y, cfg.loss, target)
                    total += grad
                x_adv = threat.project(x_adv + alpha * steepest_direction(total, threat.norm), x)
        return x_adv.detach()
