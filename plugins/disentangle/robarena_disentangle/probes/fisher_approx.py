"""Relative error of the Fisher (second-order) approximation of KL along adversarial directions (P0 Table 2).

P0 Eq. 8-10: for small perturbations ``KL(f(x) || f(x + eta)) ~ G1 = 1/2 eta^T F_x eta``. P0 App. C
(Table 2) reports ``|KL - G1| / KL`` for a TRADES VGG13 on CIFAR-10 at eps = 1/255 ... 8/255
(0.058 ... 0.290) without saying how eta is chosen. Two directions ``delta`` per example, in the
threat model (norm, eps, box) of one attack cell of the suite:

* ``rel_error`` columns, ``source = "pgd"`` (default): ``delta = x_adv - x`` of a PGD run here for
  all its ``steps`` (no early stop): 20 steps of ``step_fraction * eps`` = eps / 4 on the CE loss
  from a random start (P0's PGD-20: 2/255 at 8/255). Every example's direction comes from the
  loss gradient; an early-stopped attack returns an already misclassified example's random start,
  whose sign is noise. ``source = "attack"`` reads the attack stage's ``x_adv`` instead.
* ``eig_rel_error`` columns (``eigenvector = True``): ``delta = v``, F_x's leading eigenvector (P0
  Eq. 11-12: the worst small L2 perturbation), by matrix-free power iteration (JVP + VJP) from a
  Gaussian start, oriented so that the CE loss rises to first order (``<grad_x CE, v> >= 0``).

Each ``delta`` is rescaled to every eps:

* ``direction = "sign"`` (Linf attacks): ``eta = eps * sign(delta)``;
* ``direction = "normalized"``: ``eta = eps * delta / ||delta||`` in the attack's norm (Linf or L2);

then ``x + eta`` is clipped to the threat model's box (``clip``; ``eta`` is the clipped step,
used for both KL and G1). Examples with ``delta = 0`` or KL = 0 are left out of the ratios.
G1 is one Jacobian-vector product at x. The computation runs on a float64 copy of the model
by default (the PGD runs on the model as given): at eps = 1/255 KL can be ~1e-8, where float32
rounding would dominate the error.
"""
from __future__ import annotations

import copy
from typing import Literal, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_serializer, model_validator
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.eps import Eps, as_written, check_radius
from bench.errors import UsageError
from bench.threat import ThreatModel
from bench.toolkit import bcast, pgd_steps
from robarena_disentangle.common import choose_attack, subset
from robarena_disentangle.fisher import (FisherOperator, ShrinkingFisherMatvec, input_gradients_only, kl_from_logits,
                                         power_iteration)

P0_EPS = [f"{k}/255" for k in range(1, 9)]  # P0 Table 2


class FisherApproxConfig(BaseConfig):
    eps: list[Eps] = Field(default_factory=lambda: [Eps(e) for e in P0_EPS], min_length=1,
                           description="radii of eta (P0 Table 2: 1/255 ... 8/255); '8/255' accepted")
    attack: Optional[str] = Field(None, description="attack column or label whose threat model the direction's "
                                                    "PGD uses, or whose x_adv gives it with source = 'attack' "
                                                    "(default: the suite's first Linf attack)")
    source: Literal["pgd", "attack"] = Field("pgd", description="'pgd': the probe's own PGD, all steps run; "
                                                                "'attack': the attack stage's x_adv")
    steps: int = Field(20, ge=1, description="steps of the direction's PGD (P0's PGD-20)")
    step_fraction: float = Field(0.25, gt=0, description="PGD step / the attack's eps (P0: 2/255 at 8/255)")
    loss: Literal["ce", "cw"] = Field("ce", description="objective of the direction's PGD")
    random_start: bool = Field(True, description="start the direction's PGD uniformly in the ball")
    eigenvector: bool = Field(True, description="also the columns eig_rel_error@<eps> along F_x's leading "
                                                "eigenvector")
    power_iters: int = Field(100, ge=1, description="power-iteration products at most")
    tol: float = Field(1e-3, gt=0, description="power iteration converged when ||F v - lambda v|| <= tol * lambda")
    direction: Literal["sign", "normalized"] = Field("sign", description="eps * sign(delta) (Linf) or "
                                                                         "eps * delta / ||delta|| (attack's norm)")
    clip: bool = Field(True, description="clip x + eta to the threat model's box")
    float64: bool = Field(True, description="evaluate a float64 copy of the model")
    n: Optional[int] = Field(None, ge=1, description="first n evaluation examples (default: all)")

    @model_validator(mode="after")
    def _radii_fit_the_norm(self) -> "FisherApproxConfig":
        """Sign steps are Linf radii; normalized steps follow the attack's norm (L2 at most). From a
        random start the PGD must be able to move further than the radius (steps * step_fraction > 1), or a
        coordinate's sign may still be the random start's."""
        for eps in self.eps:
            check_radius(eps, "Linf" if self.direction == "sign" else "L2")
        if self.source == "pgd" and self.random_start and self.steps * self.step_fraction <= 1:
            raise ValueError(f"steps * step_fraction = {self.steps * self.step_fraction:g} <= 1: from a random start "
                             "the PGD cannot cross the ball, so a direction could be the random start's; raise "
                             "steps or step_fraction (P0: 20 steps of eps / 4)")
        return self

    @field_serializer("eps", when_used="json")
    def _as_written(self, v: list[Eps]) -> list[Union[str, float]]:
        """As written (text or number), as this field was stored before Eps: the probe's cache keys stay."""
        return [as_written(e) for e in v]


class FisherApprox(Probe):
    """``|KL(f(x) || f(x + eta)) - 1/2 eta^T F_x eta| / KL`` per eps along two adversarial directions.

    Columns: ``rel_error`` (mean over examples at the largest eps, P0 Table 2's 8/255 entry) and
    ``rel_error@<eps>`` for every eps (e.g. ``rel_error@1/255``) along the PGD (or attack)
    direction; ``eig_rel_error`` and ``eig_rel_error@<eps>`` along F_x's leading eigenvector
    (``eig_rel_error`` NaN, no per-eps columns, with ``eigenvector = False``). Arrays: ``eps`` (E,),
    ``kl`` and ``g1`` (E, N), ``rel_error`` (E, N; NaN where left out), ``rel_error_median`` and
    ``pooled_rel_error`` (|sum KL - sum G1| / sum KL) (E,); the same with the suffix ``_eig``
    (``kl_eig``, ...), ``eigval`` (N,) (power iteration's lambda_max), ``power_steps`` (N,);
    ``misclassified`` (N,) (clean prediction != label).

    Args (``FisherApproxConfig``): eps=[1/255, ..., 8/255], attack=None (first Linf attack),
    source="pgd", steps=20, step_fraction=0.25, loss="ce", random_start=True, eigenvector=True,
    power_iters=100, tol=1e-3, direction="sign", clip=True, float64=True, n=None.
    """

    Config = FisherApproxConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """Per example used (N = min(n, config.n)); a Jacobian-vector product counts as 2 forwards (primal and
        tangent): with ``source = "pgd"`` the direction's PGD, ``steps`` forward + backward passes (no early
        stop); the clean logits, 1 forward; with ``eigenvector``, the power iteration's VJP graph (1 forward),
        ``power_iters`` products of one JVP and one VJP (2 forwards + 1 backward each, every product counted:
        an upper bound, converged examples leave the batch) and the VJP orienting it (1 backward); then per
        direction and eps the perturbed logits (1 forward) and G1's JVP (2 forwards). Passes of the float64
        copy count as passes of the model."""
        c = self.config
        per = Cost(1.0 + 3 * len(c.eps) * (2 if c.eigenvector else 1), 0.0)
        if c.source == "pgd":
            per = per + Cost.steps(c.steps)
        if c.eigenvector:
            per = per + Cost(1 + 2 * c.power_iters, c.power_iters + 1)
        return per * min(n, c.n or n)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        config = self.config
        x, y = subset(data, config.n)
        column, record = choose_attack(data.attacks, config.attack, "disentangle/fisher-approx")
        threat = record.threat
        if config.direction == "sign" and threat.norm != "Linf":
            raise UsageError(f"fisher-approx: direction 'sign' needs an Linf attack, {column!r} is {threat.norm}; "
                             "set direction = 'normalized'")
        bs = data.batch_size
        if config.source == "pgd":
            if threat.norm not in ("Linf", "L2"):
                raise UsageError(f"fisher-approx: the direction's PGD needs a Linf or L2 attack, {column!r} is "
                                 f"{threat.norm}; name one with params.attack")
            x_adv = pgd_directions(model, x, y, threat, config, generator, bs)
        else:
            x_adv = record.x_adv[:x.shape[0]]
        if config.float64:
            model = copy.deepcopy(model).double().eval()
        x = x.to(next(iter(model.parameters()), x).dtype)
        delta = x_adv.to(x.device, x.dtype) - x
        unit = unit_direction(delta, config.direction, threat.norm)
        radii = [(float(e), e.display) for e in config.eps]
        order = sorted(range(len(radii)), key=lambda k: radii[k][0])
        radii = [radii[k] for k in order]
        sets = ("", "_eig") if config.eigenvector else ("",)
        kl = {s: torch.zeros(len(radii), x.shape[0], dtype=torch.float64) for s in sets}
        g1 = {s: torch.zeros_like(kl[s]) for s in sets}
        moved = {"": unit.flatten(1).abs().amax(dim=1).cpu() > 0}
        parts: dict[str, list[torch.Tensor]] = {}
        with input_gradients_only(model):
            for i in range(0, x.shape[0], bs):
                op = FisherOperator(model, x[i:i + bs])
                units = {"": unit[i:i + bs]}
                parts.setdefault("misclassified", []).append((op.logits.argmax(dim=1) != y[i:i + bs]).cpu())
                if config.eigenvector:
                    value, vec, steps = leading_eigenvector(op, y[i:i + bs], config.power_iters, config.tol,
                                                            generator)
                    units["_eig"] = unit_direction(vec, config.direction, threat.norm)
                    for key, val in (("eigval", value), ("power_steps", steps)):
                        parts.setdefault(key, []).append(val.detach().cpu())
                for s, u in units.items():
                    for k, (eps, _) in enumerate(radii):
                        eta = eps * u
                        if config.clip:
                            eta = (op.x + eta).clamp(*threat.bounds) - op.x
                        with torch.no_grad():
                            kl[s][k, i:i + bs] = kl_from_logits(op.logits, model(op.x + eta)).cpu()
                        g1[s][k, i:i + bs] = 0.5 * op.quadratic(eta).detach().cpu()
        arrays: dict[str, np.ndarray] = {"eps": np.array([e for e, _ in radii])}
        arrays.update({key: torch.cat(val).numpy() for key, val in parts.items()})
        scalars: dict[str, float] = {"eig_rel_error": float("nan")}
        for s in sets:
            keep = moved.get(s, torch.ones(x.shape[0], dtype=torch.bool)).unsqueeze(0) & (kl[s] > 0)
            rel = torch.where(keep, (kl[s] - g1[s]).abs() / kl[s], torch.full_like(kl[s], float("nan"))).numpy()
            prefix = "eig_" if s else ""
            for k, (_, display) in enumerate(radii):
                scalars[f"{prefix}rel_error@{display}"] = _nanmean(rel[k])
            scalars[f"{prefix}rel_error"] = scalars[f"{prefix}rel_error@{radii[-1][1]}"]
            kl_kept, g1_kept = kl[s] * keep, g1[s] * keep
            pooled = ((kl_kept.sum(1) - g1_kept.sum(1)).abs() / kl_kept.sum(1)).numpy()
            arrays.update({f"kl{s}": kl[s].numpy(), f"g1{s}": g1[s].numpy(), f"rel_error{s}": rel,
                           f"rel_error_median{s}": np.array([_nanmedian(r) for r in rel]),
                           f"pooled_rel_error{s}": pooled})
        return ProbeResult(scalars, arrays)


def pgd_directions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
                   config: FisherApproxConfig, generator: torch.Generator, batch_size: int) -> torch.Tensor:
    """``x_adv`` (N, C, H, W) of untargeted PGD on ``model`` as given, every step run (no early stop).

    ``config.steps`` steps of ``config.step_fraction * eps`` on ``config.loss`` in ``threat``'s ball and
    box, from a random start (``config.random_start``, drawn from ``generator``) or from x; batches of
    ``batch_size``. Unlike an early-stopped attack, an example misclassified at its start keeps
    ascending the loss, so ``x_adv - x`` is a loss-ascent direction for every example.
    """
    step = config.step_fraction * float(threat.eps)
    out = []
    with input_gradients_only(model):
        for i in range(0, x.shape[0], batch_size):
            out.append(pgd_steps(model, x[i:i + batch_size], y[i:i + batch_size], threat, steps=config.steps,
                                 step_size=step, loss=config.loss, random_init=config.random_start,
                                 generator=generator, early_stop=False))
    return torch.cat(out)


def leading_eigenvector(op: FisherOperator, y: torch.Tensor, iters: int, tol: float,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """F_x's leading eigenpair for the batch of ``op`` by power iteration, oriented up the CE loss.

    Power iteration (:func:`robarena_disentangle.fisher.power_iteration`, at most ``iters``
    products, residual ``tol``) from a standard Gaussian start drawn from ``generator``; the unit
    eigenvector ``v`` is then signed so that ``<grad_x CE(f(x), y), v> >= 0`` with
    ``grad_x CE = J^T (p - e_y)`` (one VJP): F's eigenvectors are defined up to sign, the
    adversarial one raises the loss. Returns ``(lambda (N,), v like op.x, steps (N,))``.
    """
    v0 = torch.randn(op.x.shape, generator=generator, device=generator.device, dtype=op.x.dtype).to(op.x.device)
    value, vec, steps = power_iteration(ShrinkingFisherMatvec(op), v0, iters, tol)
    grad = op.vjp(op.p - F.one_hot(y.to(op.p.device), op.p.shape[1]).to(op.p.dtype))
    side = (grad.flatten(1).double() * vec.flatten(1).double()).sum(dim=1)
    return value, vec * bcast(torch.where(side < 0, -1.0, 1.0).to(vec.dtype), vec), steps


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
