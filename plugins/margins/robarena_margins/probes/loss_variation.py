"""Average maximal loss variation under Linf perturbations (P1 Appendix B.5, Fig. 7, Table 1).

For every test example P1 measures ``max_{||d||_inf <= eps} CE(x + d) - CE(x)`` with
adversarial examples and reports the mean and standard deviation over the test set for
eps in {1, 2, 4}/255: the variation shrinks as the AR strength grows ("smoothing").

P1 does not say how the maximum was approximated. Here it is a short PGD ascent on the
cross-entropy (:func:`bench.toolkit.input_gradient` and :func:`bench.toolkit.steepest_direction`):
``steps`` signed steps of
``step_factor * eps / steps`` (Madry et al.'s 2.5 eps / steps by default) from ``x``, projected
onto the eps-ball and the [0, 1] box, keeping per example the largest loss seen at any iterate
(every iterate, ``x`` itself included, lies in the ball, so the value is a lower bound of the
maximum and never negative). The radii are handled in increasing order and the best point of
a smaller radius is a candidate for the larger one (it lies in the larger ball), so the
estimate never decreases with eps.
"""
from __future__ import annotations

from typing import Annotated, Union

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_serializer, field_validator
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.eps import Eps, EpsRule, as_written
from bench.steps import Steps
from bench.threat import ThreatModel
from bench.toolkit import input_gradient, random_start, steepest_direction

#: P1 Table 1's perturbation radii (on the 0-255 scale).
P1_EPS = ("1/255", "2/255", "4/255")


class LossVariationConfig(BaseConfig):
    eps: list[Annotated[Eps, EpsRule(norm="Linf")]] = Field(
        [Eps(e) for e in P1_EPS], min_length=1, description="Linf radii (P1 Table 1: 1/255, 2/255, 4/255)")
    steps: Steps = Field(10, description="PGD ascent steps per radius (P1: not stated)")
    step_factor: float = Field(2.5, gt=0, description="step length = step_factor * eps / steps (Madry et al.: 2.5)")
    random_start: bool = Field(False, description="start uniformly in the ball instead of at x")

    @field_validator("eps")
    @classmethod
    def _distinct(cls, v: list[Eps]) -> list[Eps]:
        if len(set(v)) != len(v):
            raise ValueError(f"eps values must be distinct, got {[e.display for e in v]}")
        return v

    @field_serializer("eps", when_used="json")
    def _as_written(self, v: list[Eps]) -> list[Union[str, float]]:
        """As written (text or number), as this field was stored before Eps: the probe's cache keys stay."""
        return [as_written(e) for e in v]


def max_loss_variation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], steps: int,
                       step_factor: float, generator: torch.Generator, random_init: bool = False) -> torch.Tensor:
    """Lower bounds of ``max_{||d||_inf <= eps} CE(x + d) - CE(x)``: (len(eps), N), for sorted ``eps``.

    ``model`` is used as is (the caller sets eval mode); ``x`` (N, C, H, W) in [0, 1].
    """
    x = x.detach()
    with torch.no_grad():
        ce0 = F.cross_entropy(model(x), y, reduction="none")
    best = torch.zeros_like(ce0)
    out = []
    for radius in eps:
        threat = ThreatModel(norm="Linf", eps=radius)
        step = step_factor * radius / steps
        x_t = random_start(x, threat, generator) if random_init else x.clone()
        for _ in range(steps):
            grad, _logits, loss = input_gradient(model, x_t, y, "ce", None)
            best = torch.maximum(best, loss - ce0)
            x_t = threat.project(x_t + step * steepest_direction(grad, "Linf"), x)
        with torch.no_grad():
            best = torch.maximum(best, F.cross_entropy(model(x_t), y, reduction="none") - ce0)
        out.append(best.clone())
    return torch.stack(out)


class LossVariationProbe(Probe):
    """Mean and STD over the test subset of the maximal CE increase within Linf balls (P1 B.5).

    Columns: ``mean`` and ``std`` at the largest radius, and for every radius
    ``mean@<eps>`` and ``std@<eps>`` (``<eps>`` as written in the config, e.g. ``mean@1/255``).
    STD is the population STD (``ddof = 0``). Arrays: ``eps`` (k,) sorted, ``mean`` (k,),
    ``std`` (k,), ``variation`` (k, N): per-example values in the order of ``eps``.

    Args (``LossVariationConfig``): eps=["1/255", "2/255", "4/255"] (P1 Table 1), steps=10,
    step_factor=2.5, random_start=False. ``seed``: draws the random start when enabled.
    """

    Config = LossVariationConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """Per evaluation example: the clean loss (1 forward), then per radius ``steps`` forward + backward
        passes of the ascent and the loss at its last iterate (1 forward): ``1 + E (steps + 1)`` forwards and
        ``E steps`` backwards for E radii."""
        e, steps = len(self.config.eps), self.config.steps
        return Cost(1 + e * (steps + 1), e * steps) * n

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        parsed = sorted((float(e), e.display) for e in cfg.eps)
        radii = [r for r, _ in parsed]
        chunks = []
        for i in range(0, data.x.shape[0], data.batch_size):
            xb, yb = data.x[i:i + data.batch_size].to(data.device), data.y[i:i + data.batch_size].to(data.device)
            chunks.append(max_loss_variation(model, xb, yb, radii, cfg.steps, cfg.step_factor, generator,
                                             cfg.random_start).double().cpu())
        variation = torch.cat(chunks, dim=1).numpy()
        means, stds = variation.mean(axis=1), variation.std(axis=1)
        scalars = {"mean": float(means[-1]), "std": float(stds[-1])}
        for (_, shown), m, s in zip(parsed, means, stds):
            scalars[f"mean@{shown}"] = float(m)
            scalars[f"std@{shown}"] = float(s)
        arrays = {"eps": np.array(radii), "mean": means, "std": stds, "variation": variation}
        return ProbeResult(scalars, arrays)
