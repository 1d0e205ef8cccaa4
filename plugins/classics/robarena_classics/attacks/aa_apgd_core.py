"""One run of Auto-PGD (APGD), Croce and Hein, ICML 2020, Algorithm 1 and Section 3.

The iteration, with projection ``P`` onto the eps-ball and the box, steepest-ascent
direction ``s(g)`` (``sign(g)`` for Linf, ``g / ||g||_2`` for L2) and momentum ``alpha``::

    x1     = P(x0 + eta * s(grad f(x0)))
    z_{k+1} = P(x_k + eta_k * s(grad f(x_k)))
    x_{k+1} = P(x_k + alpha (z_{k+1} - x_k) + (1 - alpha)(x_k - x_{k-1}))

with the initial step ``eta_0 = 2 eps``. The best point ``x_max`` (highest loss ``f_max``)
is tracked. At the checkpoints ``w_j = ceil(p_j n_iter)``, ``p_0 = 0``, ``p_1 = 0.22``,
``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` the step size of an example is halved
and its iterate restarted from ``x_max`` when

1. fewer than ``rho (w_j - w_{j-1})`` of the steps since ``w_{j-1}`` increased the loss, or
2. its step size was not reduced at ``w_{j-1}`` and ``f_max`` has not grown since ``w_{j-1}``.

Both are read as in the paper: condition 1 counts ``f(x_{i+1}) > f(x_i)`` over the window,
with ``f(x_{w_{j-1}}) = f_max`` after a restart, and condition 2 is also checked at ``w_1``
(against ``w_0 = 0``, where no reduction has happened), which the authors' code skips.

Everything is per example. An example is *fooled* at the first iterate the model
misclassifies (read from the logits of the forward pass that also gives the gradient); that
iterate is kept, and the fooled examples leave the working batch (every iteration on CPU,
every 5 on accelerators, where this costs a host synchronisation): the other examples'
trajectories do not depend on them, so this early stopping changes no result.
Gradients are taken with ``torch.autograd.grad`` with respect to the input only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from bench.errors import UsageError
from bench.threat import ThreatModel
from bench.toolkit import bcast, steepest_direction
from robarena_classics.attacks.aa_common import normal, uniform
from robarena_classics.attacks.aa_losses import LossFn


def checkpoints(n_iter: int) -> list[int]:
    """The iterations ``w_1 < w_2 < ...`` (1-based, ``<= n_iter``) at which APGD checks its step size.

    ``p_j`` is kept in exact hundredths (22, 41, 57, 70, 80, 87, 93, 99) so that the ceiling
    is not perturbed by float rounding; for ``n_iter = 100`` this gives 22, 41, 57, 70, 80,
    87, 93, 99. Checkpoints that round to the same iteration are merged.
    """
    out: list[int] = []
    prev, cur = 0, 22
    while cur <= 100:
        w = -(-cur * n_iter // 100)
        if 0 < w <= n_iter and (not out or w > out[-1]):
            out.append(w)
        prev, cur = cur, cur + max(cur - prev - 3, 6)
    return out


def apgd_start(x: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
    """APGD's random start for the whole batch: a point on the sphere of radius eps, clamped to the box.

    Linf: ``x + eps * t / ||t||_inf`` with ``t`` uniform in [-1, 1]^d; L2: ``x + eps * t / ||t||_2``
    with ``t`` standard normal (the initialisation of the reference implementation).
    """
    if threat.norm == "Linf":
        t = 2.0 * uniform(tuple(x.shape), generator, x) - 1.0
        scale = t.flatten(1).abs().amax(dim=1)
    elif threat.norm == "L2":
        t = normal(tuple(x.shape), generator, x)
        scale = t.flatten(1).norm(p=2, dim=1)
    else:
        raise UsageError(f"APGD needs a Linf or L2 threat model, not {threat.norm!r}")
    return threat.project(x + threat.eps * t / bcast(scale.clamp_min(1e-12), t), x)


def loss_and_grad(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                  target: Optional[torch.Tensor], eot_iter: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gradient, loss, logits) at ``x_adv``: gradient and loss averaged over ``eot_iter`` passes
    (expectation over transformation for randomized models), logits of the last pass."""
    x_adv = x_adv.detach().requires_grad_(True)
    grad = torch.zeros_like(x_adv)
    loss_sum = torch.zeros(x_adv.shape[0], device=x_adv.device, dtype=x_adv.dtype)
    logits = None
    for _ in range(eot_iter):
        logits = model(x_adv)
        loss = loss_fn(logits, y, target)
        if not loss.requires_grad:
            raise UsageError(
                "the model's output does not depend differentiably on its input (is its forward wrapped in "
                "torch.no_grad or detached?); APGD needs input gradients"
            )
        (g,) = torch.autograd.grad(loss.sum(), x_adv, allow_unused=True)
        if g is not None:  # None: the output ignores the input, no ascent direction
            grad = grad + g
        loss_sum = loss_sum + loss.detach()
    return grad / eot_iter, loss_sum / eot_iter, logits.detach()


def halve_step(n_up: torch.Tensor, window: int, rho: float, reduced_last: torch.Tensor, f_max: torch.Tensor,
               f_max_last: torch.Tensor) -> torch.Tensor:
    """(n,) bool: the checkpoint conditions of the paper, per example.

    Condition 1: ``n_up`` (the steps since the last checkpoint that increased the loss) is
    below ``rho * window``. Condition 2: the step was not halved at the last checkpoint
    (``reduced_last`` false) and ``f_max`` has not grown since then (``f_max_last``).
    """
    return (n_up < rho * window) | (~reduced_last & (f_max <= f_max_last))


@dataclass
class APGDRun:
    """Outcome of :func:`apgd_run` for its n examples.

    ``x_adv`` (n, C, H, W): the first fooling iterate, else ``x_max``; ``fooled`` (n,) bool;
    ``loss`` (n,): the loss at ``x_adv`` (``f_max`` for an example never fooled); ``step`` (n,):
    the step size ``eta`` of the fooling step, or at the end of the run.
    """

    x_adv: torch.Tensor
    fooled: torch.Tensor
    loss: torch.Tensor
    step: torch.Tensor


def apgd_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, x_start: torch.Tensor, *,
             loss_fn: LossFn, n_iter: int, rho: float, alpha: float, eot_iter: int = 1,
             target: Optional[torch.Tensor] = None, compact_every: Optional[int] = None) -> APGDRun:
    """One APGD run on every example of ``x`` (n, C, H, W) from ``x_start`` (see the module docstring).

    ``loss_fn(logits, y, target)`` is the per-example loss to maximise; ``target`` (n,) is
    passed to it (targeted DLR). ``alpha`` is the momentum, ``rho`` the checkpoint threshold.
    ``compact_every``: drop the fooled examples from the working batch every this many
    iterations (default: every iteration on CPU, every 5 on accelerators, where the check is
    a host synchronisation); in between they are carried along, their result already fixed.
    """
    x, y = x.detach(), y.detach()
    n = x.shape[0]
    out_x, out_fooled = x_start.detach().clone(), torch.zeros(n, dtype=torch.bool, device=x.device)
    out_loss = torch.full((n,), float("-inf"), dtype=x.dtype, device=x.device)
    out_step = torch.zeros_like(out_loss)
    pos = torch.arange(n, device=x.device)
    eta = torch.full((n,), 2.0 * threat.eps, dtype=x.dtype, device=x.device)
    direction = lambda g: steepest_direction(g, threat.norm)  # noqa: E731

    x_k = x_start.detach()
    g, f, logits = loss_and_grad(model, x_k, y, loss_fn, target, eot_iter)
    fooled = logits.argmax(dim=1) != y
    x_fool, f_fool, eta_fool = x_k.clone(), f.clone(), eta.clone()
    x_max, g_max, f_max = x_k.clone(), g.clone(), f.clone()
    x_prev, f_prev = x_k, f
    n_up = torch.zeros_like(f)
    reduced_last = torch.zeros_like(fooled)
    f_max_last = f_max.clone()
    marks, last_mark = set(checkpoints(n_iter)), 0
    every = compact_every or (1 if x.device.type == "cpu" else 5)

    for k in range(n_iter):
        a = 1.0 if k == 0 else alpha
        z = threat.project(x_k + bcast(eta, x_k) * direction(g), x)
        x_new = threat.project(x_k + a * (z - x_k) + (1.0 - a) * (x_k - x_prev), x) if k else z
        x_prev, x_k = x_k, x_new
        g, f, logits = loss_and_grad(model, x_k, y, loss_fn, target, eot_iter)
        newly = (logits.argmax(dim=1) != y) & ~fooled
        x_fool = torch.where(bcast(newly, x_k), x_k, x_fool)
        f_fool, eta_fool = torch.where(newly, f, f_fool), torch.where(newly, eta, eta_fool)
        fooled = fooled | newly
        n_up = n_up + (f > f_prev).to(f.dtype)
        f_prev = f
        better = f > f_max
        x_max = torch.where(bcast(better, x_k), x_k, x_max)
        g_max = torch.where(bcast(better, g), g, g_max)
        f_max = torch.where(better, f, f_max)
        if k + 1 in marks:  # checkpoint: halve the step and restart from x_max where a condition holds
            window, last_mark = k + 1 - last_mark, k + 1
            reduce = halve_step(n_up, window, rho, reduced_last, f_max, f_max_last)
            eta = torch.where(reduce, eta / 2.0, eta)
            x_k = torch.where(bcast(reduce, x_k), x_max, x_k)
            g = torch.where(bcast(reduce, g), g_max, g)
            f_prev = torch.where(reduce, f_max, f_prev)
            reduced_last, f_max_last, n_up = reduce, f_max.clone(), torch.zeros_like(n_up)
        if (k + 1) % every or k + 1 == n_iter:
            continue
        # early stopping: fooled examples leave the batch (their results are final)
        keep = (~fooled).nonzero().flatten()
        if keep.numel() < fooled.numel():
            done = fooled.nonzero().flatten()
            out_x[pos[done]], out_fooled[pos[done]] = x_fool[done], True
            out_loss[pos[done]], out_step[pos[done]] = f_fool[done], eta_fool[done]
            if keep.numel() == 0:
                return APGDRun(out_x, out_fooled, out_loss, out_step)
            x, y, pos, eta = x[keep], y[keep], pos[keep], eta[keep]
            target = None if target is None else target[keep]
            x_k, x_prev, g, f_prev, n_up = x_k[keep], x_prev[keep], g[keep], f_prev[keep], n_up[keep]
            x_max, g_max, f_max, f_max_last = x_max[keep], g_max[keep], f_max[keep], f_max_last[keep]
            fooled, x_fool, f_fool, eta_fool = fooled[keep], x_fool[keep], f_fool[keep], eta_fool[keep]
            reduced_last = reduced_last[keep]

    out_x[pos] = torch.where(bcast(fooled, x_fool), x_fool, x_max)
    out_fooled[pos] = fooled
    out_loss[pos], out_step[pos] = torch.where(fooled, f_fool, f_max), torch.where(fooled, eta_fool, eta)
    return APGDRun(out_x, out_fooled, out_loss, out_step)
