"""FAB: the Fast Adaptive Boundary attack, a minimal-perturbation attack, L2 and Linf.

Paper: Croce and Hein, "Minimally distorted Adversarial Examples with a Fast Adaptive
Boundary Attack", ICML 2020, Algorithm 1 (defaults alpha_max 0.1, eta 1.05, beta 0.9, 100
iterations; AutoAttack's standard FAB runs 1 restart). Like DeepFool it steps to the nearest
linearised boundary, but it biases every step toward the original point and backs off after
each success, so on an affine model it converges to the exact boundary distance instead of
overshooting it. Written here for the same reasons as DeepFool (per-example distances with
failures as ``inf``, pure torch); it shares DeepFool's linearisation.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Attack, AttackOutput, BaseConfig, Cost
from bench.steps import Steps
from bench.threat import ThreatModel
from bench.toolkit import bcast
from robarena_classics.attacks.deepfool import minimal_output, nearest_linear_boundary, rival_classes, rival_count



def _size(d: torch.Tensor, norm: str) -> torch.Tensor:
    flat = d.flatten(1)
    return flat.abs().amax(dim=1) if norm == "Linf" else flat.norm(p=2, dim=1)


#: most halvings of the CPU route's bracket; a row whose bracket still holds a knot after
#: them takes the bracket's end, exact to rounding
BISECTION_STEPS = 64
#: halvings before the first exact finish (by norm), and between later ones. On FAB-T's own calls
#: (CIFAR-shaped, 3,072 coordinates, Linf) a row's bracket is free of knots after a median 12
#: halvings (90 %: 15, 99 %: 19); the knots of L2 (room / w_j) spread further: on random data 25 (99 %: 33)
FIRST_FINISH = {"Linf": 16, "L2": 24}
FINISH_EVERY = 8
#: up to this many coordinates per example (by norm; always on accelerators) the knots are sorted;
#: above it, on a CPU, bisection with an exact finish is faster. Measured per call, one thread,
#: 64 / 416 rows (docs/performance.md, "FAB's projection on a CPU"): Linf, 64 coordinates 0.67 /
#: 3.16 ms sorted vs 0.87 / 1.84 ms bisected, 3,072: 33.9 / 224 vs 9.2 / 91 ms; L2, 64: 0.94 /
#: 3.63 vs 2.70 / 4.12 ms, 256: 2.86 / 16.0 vs 3.51 / 6.28 ms, 3,072: 37.5 / 233 vs 17.6 / 156 ms
SORT_MAX_COORDS = {"Linf": 32, "L2": 128}


def project_onto_hyperplane_in_box(p: torch.Tensor, w: torch.Tensor, r: torch.Tensor, bounds: tuple[float, float],
                                   norm: str) -> torch.Tensor:
    """Per example, ``argmin ||d||`` subject to ``<w, d> = r`` and ``p + d`` in the box.

    The minimiser has the form ``d(lam) = clip(lam * v, lo - p, hi - p)`` with ``v = w`` for L2
    (the KKT conditions) and ``v = sign(w)`` for Linf (the smallest cube whose corner in the
    box reaches the hyperplane). ``g(lam) = <w, d(lam)> = sum_j s_j clip(lam, a_j, b_j)`` with
    ``s_j = w_j v_j >= 0`` is piecewise linear and non-decreasing, with knots where coordinate
    ``j`` meets its bounds (``a_j <= 0 <= b_j``); ``lam`` is the smallest value with
    ``g(lam) >= r``, found either from the sorted knots (the breakpoint search of the FAB
    authors' code, written with torch's sort and cumsum) or by bisection until no knot is left
    inside the bracket, then linear interpolation (see :data:`SORT_MAX_COORDS`); both are exact
    to rounding in the inputs' precision (float32 as the authors' code, float64 for float64).
    When the hyperplane misses the box, the box point that comes closest to
    it in ``<w, .>`` is returned. ``p`` (N, ...) inside the box, ``w`` (N, ...), ``r`` (N,).
    """
    lo, hi = bounds
    dtype = torch.promote_types(p.dtype, torch.float32)  # float64 stays float64; half precision is raised
    p_, w_, r_ = p.to(dtype).flatten(1), w.to(dtype).flatten(1), r.to(dtype)
    v = w_.sign() if norm == "Linf" else w_
    low, high = lo - p_, hi - p_                         # per-coordinate room, low <= 0 <= high
    a, b, s = _knots(w_, v, low, high)
    if p.device.type != "cpu" or v.shape[1] <= SORT_MAX_COORDS[norm]:
        lam = _lam_from_sorted_knots(a, b, s, r_)
    else:
        lam = _lam_by_bisection(a, b, s, r_, FIRST_FINISH[norm])
    return torch.clamp(lam[:, None] * v, low, high).to(p.dtype).view_as(p)


def _knots(w: torch.Tensor, v: torch.Tensor, low: torch.Tensor, high: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(a, b, s)`` (N, D): coordinate ``j`` moves as ``lam * v_j`` for ``lam`` in ``[a_j, b_j]`` and is
    clipped outside it, with slope ``s_j = w_j v_j`` in ``g`` (``a = b = s = 0`` where ``v_j = 0``)."""
    inv = torch.where(v != 0, v.reciprocal(), 0.0)       # 1 / v_j, exact for Linf's signs
    at_low, at_high = low * inv, high * inv
    return torch.minimum(at_low, at_high), torch.maximum(at_low, at_high), w * v


def _lam_from_sorted_knots(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The smallest ``lam`` with ``g(lam) >= r``: ``g`` at every sorted knot by cumulative sums,
    then linear interpolation inside the segment where it reaches ``r`` (N,)."""
    knots, order = torch.cat([a, b], dim=1).sort(dim=1)
    slope = torch.cat([s, -s], dim=1).gather(1, order).cumsum(dim=1)  # on [knot_k, knot_k+1]
    g_first = (s * a).sum(dim=1, keepdim=True)           # every coordinate at its lower end
    g_knots = torch.cat([g_first, g_first + (slope[:, :-1] * knots.diff(dim=1)).cumsum(dim=1)], dim=1)
    below = (g_knots < r[:, None]).sum(dim=1)            # knots where g < r (g is non-decreasing)
    last = knots.shape[1] - 1
    k = (below - 1).clamp(0, last)[:, None]
    seg_slope = slope.gather(1, k).squeeze(1)
    inside = (below > 0) & (below <= last) & (seg_slope > 0)
    lam_inside = knots.gather(1, k).squeeze(1) + (r - g_knots.gather(1, k).squeeze(1)) / \
        torch.where(inside, seg_slope, torch.ones_like(seg_slope))
    first_reaching = knots.gather(1, below.clamp(max=last)[:, None]).squeeze(1)  # g >= r from here on
    return torch.where(inside, lam_inside, first_reaching)


def _lam_by_bisection(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, r: torch.Tensor, first: int) -> torch.Tensor:
    """The same ``lam``: halve the bracket ``[min_j a_j, max_j b_j]`` (every coordinate clipped at
    either end), ``first`` times and then :data:`FINISH_EVERY` times between finishes. A finish
    takes every row whose bracket holds no knot (each coordinate is clipped on the whole bracket or
    on none of it, so ``g`` is linear there) and interpolates its root exactly; later halvings run
    on the remaining rows only. After :data:`BISECTION_STEPS` halvings a row takes its bracket's
    end. A bracket ``(lo, hi]`` with ``g(lo) < r <= g(hi)`` holds one root; a flat ``g`` on it (the
    plane misses the box) gives its end, as ``r``'s sign says (``d`` is the same all along it)."""
    lam = torch.empty_like(r)
    rows = torch.arange(r.shape[0], device=r.device)
    lam_lo, lam_hi = a.amin(dim=1), b.amax(dim=1)
    done = 0
    while True:
        for _ in range(min(first if done == 0 else FINISH_EVERY, BISECTION_STEPS - done)):
            mid = 0.5 * (lam_lo + lam_hi)
            up = torch.linalg.vecdot(s, torch.clamp(mid[:, None], a, b)) < r
            lam_lo, lam_hi = torch.where(up, mid, lam_lo), torch.where(up, lam_hi, mid)
            done += 1
        end = torch.where(r >= 0, lam_hi, lam_lo)
        if done >= BISECTION_STEPS:
            lam[rows] = end
            return lam
        width = (lam_hi - lam_lo)[:, None]
        at_lo = torch.clamp(lam_lo[:, None], a, b)
        moved = torch.clamp(lam_hi[:, None], a, b) - at_lo  # 0 (clipped throughout) or width (free throughout)
        g_lo, rise = torch.linalg.vecdot(s, at_lo), torch.linalg.vecdot(s, moved)
        step = (r - g_lo) / torch.where(rise > 0, rise, torch.ones_like(rise)) * width.squeeze(1)
        lam[rows] = torch.where(rise > 0, torch.minimum(lam_lo + step.clamp_min(0), lam_hi), end)
        knot_inside = ((moved > 0) & (moved < width)).any(dim=1).nonzero().flatten()
        if knot_inside.numel() == 0:
            return lam
        rows, a, b, s, r = rows[knot_inside], a[knot_inside], b[knot_inside], s[knot_inside], r[knot_inside]
        lam_lo, lam_hi = lam_lo[knot_inside], lam_hi[knot_inside]


class FABConfig(BaseConfig):
    """Parameters of :class:`FAB` (defaults: Croce and Hein 2020; 1 restart as AutoAttack)."""

    n_iter: Steps = Field(100, description="iterations per restart")
    alpha_max: float = Field(0.1, ge=0, le=1, description="largest bias toward the original point")
    eta: float = Field(1.05, ge=1, description="extrapolation factor of each projection step")
    beta: float = Field(0.9, gt=0, le=1, description="backward step after a success: x <- (1-b) x_orig + b x")
    restarts: int = Field(1, ge=1, description="runs; later ones start at radius min(best, eps) / 2")
    candidates: Optional[int] = Field(None, ge=2, description="classes considered (top clean logits); None = all")


class FAB(Attack):
    """Fast Adaptive Boundary attack: biased projections onto the nearest linearised boundary.

    At ``x_i`` the nearest linearised boundary (rival ``s``, as in DeepFool) is the hyperplane
    ``pi = {z : (f_s - f_y)(x_i) + <grad, z - x_i> = 0}``; ``delta`` and ``delta_orig`` are the
    smallest (L2 or Linf) moves from ``x_i`` and from ``x_orig`` onto ``pi`` inside the box,
    ``alpha = min(||delta|| / (||delta|| + ||delta_orig||), alpha_max)`` and
    ``x_{i+1} = clip_box((1 - alpha)(x_i + eta delta) + alpha (x_orig + eta delta_orig))``.
    When ``x_{i+1}`` is misclassified it is recorded if closer than the best so far and the
    iterate backs off to ``(1 - beta) x_orig + beta x_{i+1}``. Restarts after the first start
    at a random point (uniform direction) at distance ``min(best, eps) / 2`` from ``x_orig``,
    drawn from the attack's generator.

    Untargeted only. ``extras["distance"]`` (N,): the smallest distance of a misclassified
    iterate (0 for an already misclassified input, ``inf`` when none was found); an
    example whose distance exceeds eps (or that failed) is returned as the clean input.

    Args (``FABConfig``): n_iter=100, alpha_max=0.1, eta=1.05, beta=0.9, restarts=1,
    candidates=None. ``seed``: seed of the restarts' generator.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64; returns
    ``AttackOutput(x_adv (N, C, H, W), {"distance": (N,)})``. Costs one forward and one
    backward pass per rival plus one forward pass per iteration.

    Example::

        out = FAB()(model, x, y, ThreatModel(norm="Linf", eps=1.0))
        margins = out.extras["distance"]
    """

    Config = FABConfig

    @classmethod
    def smoke_config(cls) -> FABConfig:
        """Conformance checks: 20 iterations instead of 100."""
        return cls.Config(n_iter=20)
    norms = ("Linf", "L2")
    supports_targeted = False

    def start(self, x: torch.Tensor, radius: torch.Tensor, norm: str, bounds: tuple[float, float],
              generator: torch.Generator) -> torch.Tensor:
        """A random point at distance ``radius`` (N,) from ``x`` in ``norm``, clamped to the box."""
        gdev = generator.device
        if norm == "Linf":
            t = 2 * torch.rand(x.shape, generator=generator, device=gdev, dtype=x.dtype).to(x.device) - 1
        else:
            t = torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype).to(x.device)
        t = t / bcast(_size(t, norm).clamp_min(1e-12), t)
        return (x + bcast(radius, x) * t).clamp(*bounds)

    def cost(self, threat: ThreatModel, num_classes: Optional[int] = None) -> Optional[Cost]:
        """Per example, an upper bound (``bench.api.cost``): 1 forward ranking the rivals, then per restart
        and iteration a linearisation (1 forward, 1 backward per rival: ``candidates - 1``, capped at
        ``num_classes - 1``) and 1 forward checking the new iterate; None when both are None."""
        cfg = self.config
        rivals = rival_count(cfg.candidates, num_classes)
        return None if rivals is None else Cost(1, 0) + Cost(2, rivals) * (cfg.restarts * cfg.n_iter)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> AttackOutput:
        x = x.detach()
        with torch.no_grad():
            logits = model(x)
        rivals = rival_classes(logits, y, self.config.candidates)
        best, best_dist, found = self.search(model, x, y, rivals, threat, generator, logits.argmax(dim=1) != y)
        return minimal_output(best, x, found, threat)

    def search(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, rivals: torch.Tensor, threat: ThreatModel,
               generator: torch.Generator, misclassified: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """FAB's restarts and iterations against the boundaries of ``rivals`` (N, R).

        Returns ``(best, best_dist, found)``: the closest misclassified iterate (N, ...), its
        distance (N,) (0 where ``misclassified`` already, ``inf`` where none was found) and
        whether one was found (N,).
        """
        cfg, norm, bounds = self.config, threat.norm, threat.bounds
        found = misclassified.clone()
        best_dist = torch.where(found, 0.0, math.inf).to(x.dtype)
        best = x.clone()
        for restart in range(cfg.restarts):
            if restart == 0:
                x_i = x.clone()
            else:
                radius = torch.clamp(best_dist, max=threat.eps) / 2
                x_i = self.start(x, radius, norm, bounds, generator)
            for _ in range(cfg.n_iter):
                lin = nearest_linear_boundary(model, x_i, y, rivals, norm)
                r_i = -lin.f
                r_orig = r_i - (lin.w * (x - x_i)).flatten(1).sum(dim=1)
                # both projections (from x_i and from x_orig) in one call, as the authors' code does
                both = project_onto_hyperplane_in_box(torch.cat([x_i, x]), torch.cat([lin.w, lin.w]),
                                                      torch.cat([r_i, r_orig]), bounds, norm)
                d_i, d_orig = both.chunk(2)
                n_i, n_orig = _size(d_i, norm), _size(d_orig, norm)
                alpha = bcast((n_i / (n_i + n_orig).clamp_min(1e-12)).clamp(0.0, cfg.alpha_max), x)
                x_new = ((1 - alpha) * (x_i + cfg.eta * d_i) + alpha * (x + cfg.eta * d_orig)).clamp(*bounds)
                with torch.no_grad():
                    adv = model(x_new).argmax(dim=1) != y
                dist = threat.distance(x_new, x)
                better = adv & (dist < best_dist)
                best = torch.where(bcast(better, x), x_new, best)
                best_dist = torch.where(better, dist, best_dist)
                found |= adv
                x_i = torch.where(bcast(adv, x), (1 - cfg.beta) * x + cfg.beta * x_new, x_new)
        return best, best_dist, found


class FABTargetedConfig(FABConfig):
    """Parameters of :class:`FABTargeted` (defaults: AutoAttack's standard FAB-T)."""

    n_target_classes: int = Field(9, ge=1, description="target classes: the highest clean logits other than y")


class FABTargeted(FAB):
    """FAB-T: FAB against one target class's boundary at a time (AutoAttack's standard member).

    For target rank ``k = 1 .. n_target_classes`` (the ``k``-th largest clean logit other than
    ``y``), FAB runs with the single linearised boundary ``f_t - f_y`` on the examples not yet
    misclassified within eps, exactly as AutoAttack's FAB-T; success is misclassification (any
    class), so it counts as an untargeted attack. ``extras["distance"]`` (N,) is the smallest
    distance found over the targets tried for that example (an example fooled within eps by an
    earlier target is not attacked again, so its distance is not refined further).

    Args (``FABTargetedConfig``): n_target_classes=9 plus :class:`FABConfig`'s (n_iter=100,
    alpha_max=0.1, eta=1.05, beta=0.9, restarts=1). Shapes as :class:`FAB`. Costs, per target,
    one forward and backward pass per iteration on the still-robust examples.
    """

    Config = FABTargetedConfig

    @classmethod
    def smoke_config(cls) -> FABTargetedConfig:
        """Conformance checks: 10 iterations, 2 targets."""
        return cls.Config(n_iter=10, n_target_classes=2)

    def cost(self, threat: ThreatModel) -> Cost:
        """Per example, an upper bound (``bench.api.cost``): 1 forward ranking the targets, then per target
        (``n_target_classes``, capped at classes - 1 when run), restart and iteration 1 forward + 1 backward
        (the one boundary) and 1 forward checking the new iterate (nobody fooled early)."""
        cfg = self.config
        return Cost(1, 0) + Cost(2, 1) * (cfg.n_target_classes * cfg.restarts * cfg.n_iter)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> AttackOutput:
        x = x.detach()
        with torch.no_grad():
            logits = model(x)
        ranked = rival_classes(logits, y, None)  # (N, K-1), by decreasing clean logit
        clean_wrong = logits.argmax(dim=1) != y
        found = clean_wrong.clone()
        best_dist = torch.where(found, 0.0, math.inf).to(x.dtype)
        best = x.clone()
        for k in range(min(self.config.n_target_classes, ranked.shape[1])):
            idx = (~(found & (best_dist <= threat.eps))).nonzero().flatten()
            if idx.numel() == 0:
                break
            b, d, f = self.search(model, x[idx], y[idx], ranked[idx, k:k + 1], threat, generator, clean_wrong[idx])
            better = f & (d < best_dist[idx])
            rows = idx[better]
            best[rows], best_dist[rows] = b[better], d[better]
            found[idx] |= f
        return minimal_output(best, x, found, threat)
