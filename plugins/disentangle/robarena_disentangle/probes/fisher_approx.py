"""Relative error of the Fisher (second-order) approximation of KL along the adversarial direction (P0 Table 2).

P0 Eq. 8-10: for small perturbations ``KL(f(x) || f(x + eta)) ~ G1 = 1/2 eta^T F_x eta``. P0 App. C
(Table 2) reports ``|KL - G1| / KL`` for a TRADES VGG13 on CIFAR-10 at eps = 1/255 ... 8/255
(0.058 ... 0.290). Here ``eta`` follows the attack stage's perturbation ``delta = x_adv - x`` of
one attack cell, rescaled to each eps:

* ``direction = "sign"`` (Linf attacks): ``eta = eps * sign(delta)``;
* ``direction = "normalized"``: ``eta = eps * delta / ||delta||`` in the attack's norm (Linf or L2);

then ``x + eta`` is clipped to the threat model's box (``clip``; ``eta`` is the clipped step,
used for both KL and G1). Examples with ``delta = 0`` or KL = 0 are left out of the ratios.
G1 is one Jacobian-vector product at x. The computation runs on a float64 copy of the model
by default: at eps = 1/255 KL can be ~1e-8, where float32 rounding would dominate the error.
"""
from __future__ import annotations

import copy
from typing import Literal, Optional, Union

import numpy as np
import torch
from pydantic import Field, field_serializer, model_validator
from torch import nn

from bench.api import BaseConfig, Probe, ProbeInput, ProbeResult
from bench.eps import Eps, as_written, check_radius
from bench.errors import UsageError
from robarena_disentangle.common import choose_attack, subset
from robarena_disentangle.fisher import FisherOperator, input_gradients_only, kl_from_logits

P0_EPS = [f"{k}/255" for k in range(1, 9)]  # P0 Table 2


class FisherApproxConfig(BaseConfig):
    eps: list[Eps] = Field(default_factory=lambda: [Eps(e) for e in P0_EPS], min_length=1,
                           description="radii of eta (P0 Table 2: 1/255 ... 8/255); '8/255' accepted")
    attack: Optional[str] = Field(None, description="attack column or label giving the direction "
                                                    "(default: the suite's first Linf attack)")
    direction: Literal["sign", "normalized"] = Field("sign", description="eps * sign(delta) (Linf) or "
                                                                         "eps * delta / ||delta|| (attack's norm)")
    clip: bool = Field(True, description="clip x + eta to the threat model's box")
    float64: bool = Field(True, description="evaluate a float64 copy of the model")
    n: Optional[int] = Field(None, ge=1, description="first n evaluation examples (default: all)")

    @model_validator(mode="after")
    def _radii_fit_the_norm(self) -> "FisherApproxConfig":
        """Sign steps are Linf radii; normalized steps follow the attack's norm (L2 at most)."""
        for eps in self.eps:
            check_radius(eps, "Linf" if self.direction == "sign" else "L2")
        return self

    @field_serializer("eps", when_used="json")
    def _as_written(self, v: list[Eps]) -> list[Union[str, float]]:
        """As written (text or number), as this field was stored before Eps: the probe's cache keys stay."""
        return [as_written(e) for e in v]


class FisherApprox(Probe):
    """``|KL(f(x) || f(x + eta)) - 1/2 eta^T F_x eta| / KL`` per eps along the attack's direction.

    Columns: ``rel_error`` (mean over examples at the largest eps, P0 Table 2's 8/255 entry) and
    ``rel_error@<eps>`` for every eps (e.g. ``rel_error@1/255``). Arrays: ``eps`` (E,),
    ``kl`` and ``g1`` (E, N), ``rel_error`` (E, N; NaN where left out), ``rel_error_median`` and
    ``pooled_rel_error`` (|sum KL - sum G1| / sum KL) (E,).

    Args (``FisherApproxConfig``): eps=[1/255, ..., 8/255], attack=None (first Linf attack),
    direction="sign", clip=True, float64=True, n=None.
    """

    Config = FisherApproxConfig

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        x, _ = subset(data, self.config.n)
        column, record = choose_attack(data.attacks, self.config.attack, "disentangle/fisher-approx")
        threat = record.threat
        if self.config.direction == "sign" and threat.norm != "Linf":
            raise UsageError(f"fisher-approx: direction 'sign' needs an Linf attack, {column!r} is {threat.norm}; "
                             "set direction = 'normalized'")
        if self.config.float64:
            model = copy.deepcopy(model).double().eval()
        x = x.to(next(iter(model.parameters()), x).dtype)
        delta = record.x_adv[:x.shape[0]].to(x.device, x.dtype) - x
        unit = unit_direction(delta, self.config.direction, threat.norm)
        moved = unit.flatten(1).abs().amax(dim=1) > 0
        radii = [(float(e), e.display) for e in self.config.eps]
        order = sorted(range(len(radii)), key=lambda k: radii[k][0])
        radii = [radii[k] for k in order]
        bs = data.batch_size
        kl = torch.zeros(len(radii), x.shape[0], dtype=torch.float64)
        g1 = torch.zeros_like(kl)
        with input_gradients_only(model):
            for i in range(0, x.shape[0], bs):
                op = FisherOperator(model, x[i:i + bs])
                for k, (eps, _) in enumerate(radii):
                    eta = eps * unit[i:i + bs]
                    if self.config.clip:
                        eta = (op.x + eta).clamp(*threat.bounds) - op.x
                    with torch.no_grad():
                        kl[k, i:i + bs] = kl_from_logits(op.logits, model(op.x + eta)).cpu()
                    g1[k, i:i + bs] = 0.5 * op.quadratic(eta).detach().cpu()
        keep = moved.cpu().unsqueeze(0) & (kl > 0)
        rel = torch.where(keep, (kl - g1).abs() / kl, torch.full_like(kl, float("nan"))).numpy()
        scalars = {}
        for k, (_, display) in enumerate(radii):
            scalars[f"rel_error@{display}"] = _nanmean(rel[k])
        scalars["rel_error"] = scalars[f"rel_error@{radii[-1][1]}"]
        kl_kept, g1_kept = kl * keep, g1 * keep
        pooled = ((kl_kept.sum(1) - g1_kept.sum(1)).abs() / kl_kept.sum(1)).numpy()
        arrays = {"eps": np.array([e for e, _ in radii]), "kl": kl.numpy(), "g1": g1.numpy(), "rel_error": rel,
                  "rel_error_median": np.array([_nanmedian(r) for r in rel]), "pooled_rel_error": pooled}
        return ProbeResult(scalars, arrays)


def unit_direction(delta: torch.Tensor, direction: str, norm: str) -> torch.Tensor:
    """``sign(delta)`` or ``delta / ||delta||`` per example (``norm``: Linf or L2); zero stays zero."""
    if direction == "sign":
        return torch.sign(delta)
    flat = delta.flatten(1)
    size = flat.abs().amax(dim=1) if norm == "Linf" else flat.norm(dim=1)
    scale = torch.where(size > 0, 1.0 / size.clamp_min(torch.finfo(delta.dtype).tiny), torch.zeros_like(size))
    return delta * scale.view(-1, *([1] * (delta.dim() - 1)))


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _nanmedian(values: np.ndarray) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")
