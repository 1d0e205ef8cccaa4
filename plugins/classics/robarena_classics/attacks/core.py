"""PGD with restarts, built on :mod:`bench.toolkit` (objectives, steps, random starts, ``pgd_steps``).

The building blocks are bench's public attack toolkit; they are imported here under their
old names so that classics' attacks and tests can keep reading them from this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from bench.errors import UsageError
from bench.threat import ThreatModel
from bench.toolkit.gradients import (LOSSES, Loss, input_gradient, margin, objective, pgd_steps, random_start,
                                     steepest_direction, success)

__all__ = ["LOSSES", "Loss", "PGDResult", "input_gradient", "margin", "objective", "pgd", "pgd_restarts",
           "pgd_steps", "random_start", "steepest_direction", "success"]


@dataclass
class PGDResult:
    """Per-example outcome of :func:`pgd`.

    ``x_adv`` (N, C, H, W): the returned examples (see :func:`~bench.toolkit.gradients.pgd_steps`
    for which iterate). ``success`` (N,) bool: the model misclassifies ``x_adv`` (untargeted) or
    predicts the target (targeted). ``objective`` (N,): the attack objective at ``x_adv``.
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    objective: torch.Tensor


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, *,
        target: Optional[torch.Tensor] = None, loss: str = "ce", **kwargs) -> PGDResult:
    """:func:`pgd_steps` plus one forward pass scoring the returned examples.

    Returns a :class:`PGDResult` whose ``success`` and ``objective`` are evaluated at the
    returned ``x_adv`` (keyword arguments as for :func:`pgd_steps`).
    """
    x_adv = pgd_steps(model, x, y, threat, target=target, loss=loss, **kwargs)
    with torch.no_grad():
        logits = model(x_adv)
        return PGDResult(x_adv, success(logits, y, target), objective(logits, y, loss, target))


def _restart_starts(x: torch.Tensor, threat: ThreatModel, generator: Optional[torch.Generator],
                    random_init: bool) -> Optional[torch.Tensor]:
    """One restart's start points for the *full* batch (None: start at ``x``)."""
    if not random_init:
        return None
    if generator is None:
        raise UsageError("PGD with a random start needs a torch.Generator")
    return random_start(x.detach(), threat, generator)


def pgd_restarts(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, *,
                 restarts: int, generator: Optional[torch.Generator],
                 target: Optional[torch.Tensor] = None, random_init: bool = True, batched: bool = False,
                 **kwargs) -> PGDResult:
    """:func:`pgd` with ``restarts`` runs; later runs attack only the examples not yet fooled.

    Per example the result is the first successful run's example; an example that no
    run fools keeps the run with the highest objective (the first such run on ties).
    Every run's start points are drawn for the full batch, in run order, whichever
    examples it then attacks, so an example's runs do not depend on the other examples.
    Selecting the not-yet-fooled examples costs one host synchronisation per restart.

    ``batched``: run all restarts at once as one batch of ``restarts * N`` examples and
    pick per example as above: the same starts, the same per-example trajectories, so the
    same result (up to float rounding of differently sized batches), in fewer, larger
    passes; it also runs the later restarts of examples an earlier restart already fooled
    (useful on accelerators, wasteful on a CPU). Other keyword arguments are those of
    :func:`pgd_steps`.
    """
    if batched and restarts > 1:
        return _pgd_restarts_batched(model, x, y, threat, restarts=restarts, generator=generator, target=target,
                                     random_init=random_init, **kwargs)
    first = _restart_starts(x, threat, generator, random_init)
    best = pgd(model, x, y, threat, target=target, start=first, random_init=False, **kwargs)
    for _ in range(restarts - 1):
        start = _restart_starts(x, threat, generator, random_init)
        todo = (~best.success).nonzero().flatten()
        if todo.numel() == 0:
            break
        sub_target = None if target is None else target[todo]
        run = pgd(model, x[todo], y[todo], threat, target=sub_target, random_init=False,
                  start=None if start is None else start[todo], **kwargs)
        better = run.success | (run.objective > best.objective[todo])
        idx = todo[better]
        best.x_adv[idx] = run.x_adv[better]
        best.success[idx] = run.success[better]
        best.objective[idx] = run.objective[better]
    return best


def _pgd_restarts_batched(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, *, restarts: int,
                          generator: Optional[torch.Generator], target: Optional[torch.Tensor], random_init: bool,
                          **kwargs) -> PGDResult:
    n = x.shape[0]
    starts = [_restart_starts(x, threat, generator, random_init) for _ in range(restarts)]
    start = None if starts[0] is None else torch.cat(starts)  # type: ignore[arg-type]
    rep = (restarts,) + (1,) * (x.dim() - 1)
    run = pgd(model, x.repeat(rep), y.repeat(restarts), threat, target=None if target is None else target.repeat(restarts),
              start=start, random_init=False, **kwargs)
    success_r = run.success.view(restarts, n)
    objective_r = run.objective.view(restarts, n)
    order = torch.arange(restarts, device=x.device).view(-1, 1).expand(restarts, n)
    first_success = torch.where(success_r, order, torch.full_like(order, restarts)).amin(dim=0)
    best_objective = objective_r.argmax(dim=0)  # the first maximum on ties
    pick = torch.where(first_success < restarts, first_success, best_objective)
    rows = pick * n + torch.arange(n, device=x.device)
    return PGDResult(run.x_adv[rows], run.success[rows], run.objective[rows])
