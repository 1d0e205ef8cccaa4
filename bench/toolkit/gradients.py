"""Gradient-attack building blocks: objectives, steepest directions, random starts, PGD steps.

Public API for plugins (see docs/plugin-guide.md); classics' FGSM, PGD and adversarial training
are built on it. Everything works on whole batches without host synchronisation (no ``.item()``,
no data-dependent Python branches inside the step loop), takes gradients with
``torch.autograd.grad`` with respect to the input only (parameter ``.grad`` is never touched),
and draws every random number from the ``generator`` it is given.

Objectives are per-example values that the attack *maximises*:

* ``"ce"`` untargeted: ``CE(z, y)``; targeted: ``-CE(z, t)`` (descend on the target's loss,
  P3 Eq. 2.2).
* ``"cw"`` untargeted: ``max_{i != y} z_i - z_y`` (the margin loss of Carlini & Wagner solved
  by PGD, "CW-Linf" in P0); targeted: ``z_t - max_{i != t} z_i``. P0's coefficient
  ``c = 5e2`` only rescales the objective, which the normalised (sign or unit-L2) PGD
  step ignores, so it has no parameter here.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import UsageError
from bench.threat import ThreatModel

Loss = Literal["ce", "cw"]
LOSSES = ("ce", "cw")
#: Madry et al.'s step rule: step = MADRY_STEP_FACTOR * eps / steps.
MADRY_STEP_FACTOR = 2.5


def madry_step_size(eps: float, steps: int) -> float:
    """``2.5 * eps / steps``: the step that lets ``steps`` steps cross the ball (Madry et al. 2018)."""
    return MADRY_STEP_FACTOR * eps / steps


def bcast(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View a per-example (N,) tensor as (N, 1, ..., 1) to broadcast against ``like``."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``z_label - max_{i != label} z_i`` per example, shape (N,) (P1 Definition 3)."""
    index = labels.view(-1, 1)
    true = logits.gather(1, index).squeeze(1)
    return true - logits.scatter(1, index, float("-inf")).amax(dim=1)


def objective(logits: torch.Tensor, y: torch.Tensor, loss: str, target: Optional[torch.Tensor]) -> torch.Tensor:
    """Per-example objective to maximise (N,); ``target`` given = targeted."""
    if loss == "ce":
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")
    if loss == "cw":
        return -margin(logits, y) if target is None else margin(logits, target)
    raise UsageError(f"unknown attack loss {loss!r}; expected one of {list(LOSSES)}")


def success(logits: torch.Tensor, y: torch.Tensor, target: Optional[torch.Tensor]) -> torch.Tensor:
    """(N,) bool: misclassified (untargeted) or classified as ``target`` (targeted)."""
    pred = logits.argmax(dim=1)
    return pred != y if target is None else pred == target


def steepest_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """argmax_{||u|| <= 1} <u, grad>: ``sign(grad)`` for Linf, ``grad / ||grad||_2`` for L2.

    A zero gradient gives a zero direction (no step) in both norms.
    """
    if norm == "Linf":
        return grad.sign()
    if norm == "L2":
        norms = grad.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
        return grad / bcast(norms, grad)
    raise UsageError(f"gradient attacks support norms 'Linf' and 'L2', not {norm!r}")


def random_start(x: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
    """A uniform random point of the eps-ball around ``x``, clamped to the box.

    Linf: each coordinate uniform in [-eps, eps]. L2: uniform in the ball, i.e. a
    uniform direction (normalised Gaussian) times ``eps * u^(1/d)`` with ``u ~ U(0, 1)``
    and ``d`` the input dimension. Draws happen on ``generator.device`` and are moved to
    ``x.device``, so a CPU generator also drives a CUDA attack.
    """
    gdev = generator.device
    if threat.norm == "Linf":
        u = torch.rand(x.shape, generator=generator, device=gdev, dtype=x.dtype).to(x.device)
        delta = (2.0 * u - 1.0) * threat.eps
    elif threat.norm == "L2":
        d = x[0].numel()
        g = torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype).to(x.device)
        r = torch.rand(x.shape[0], generator=generator, device=gdev, dtype=x.dtype).to(x.device)
        direction = g / bcast(g.flatten(1).norm(p=2, dim=1).clamp_min(1e-12), g)
        delta = direction * bcast(threat.eps * r.pow(1.0 / d), g)
    else:
        raise UsageError(f"random starts need a Linf or L2 threat model, not {threat.norm!r}")
    return threat.project(x + delta, x)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str,
                   target: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of the summed objective w.r.t. ``x`` only; returns (grad, logits, objective)."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    obj = objective(logits, y, loss, target)
    if not obj.requires_grad:
        raise UsageError(
            "the model's output does not depend differentiably on its input (is its forward wrapped in "
            "torch.no_grad or detached?); gradient attacks need input gradients"
        )
    (grad,) = torch.autograd.grad(obj.sum(), x, allow_unused=True)
    if grad is None:  # the output ignores the input: no ascent direction
        grad = torch.zeros_like(x)
    return grad, logits.detach(), obj.detach()


def pgd_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, *, steps: int,
              step_size: float, loss: str = "ce", target: Optional[torch.Tensor] = None,
              random_init: bool = True, generator: Optional[torch.Generator] = None,
              early_stop: bool = True, compact_every: Optional[int] = None,
              start: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The PGD iterates of Madry et al. (2018); returns ``x_adv`` (N, C, H, W) only.

    ``x_{t+1} = P(x_t + step_size * argmax_{||u|| <= 1} <u, grad>)`` (P3 Eq. 2.3), where P
    projects onto the eps-ball of ``threat`` and clamps to its box.

    Args:
        model: logits model; used as is (callers choose eval/train mode).
        x: clean inputs (N, C, H, W) inside ``threat.bounds``. y: labels (N,).
        threat: Linf or L2 threat model (targeting is decided by ``target``).
        steps: gradient steps (>= 0). step_size: absolute step length.
        loss: ``"ce"`` or ``"cw"`` (see module docstring).
        target: (N,) target classes for a targeted attack, else None.
        random_init: start from :func:`random_start` (needs ``generator``), else from ``x``.
        start: an explicit start point (N, C, H, W) inside the threat model (overrides
            ``random_init``; :func:`pgd_restarts` draws its starts for the full batch this way).
        early_stop: freeze an example at the first iterate that succeeds and stop spending
            forward/backward passes on it.
        compact_every: with ``early_stop``, drop frozen examples from the working batch every
            this many steps (default: every step on CPU, every 5 on accelerators, where the
            check is a host synchronisation); between compactions they are masked.

    With ``early_stop`` an example that succeeds at some iterate ``x_t`` (t = 0 is the
    start point; success is read from the logits of the forward pass that also gives the
    gradient) is frozen there, so the returned example is its *first* successful iterate;
    an example that never succeeds returns the last iterate ``x_steps``, exactly as
    without ``early_stop``. Dropping frozen examples from the batch changes which
    examples share a forward pass, not any example's own computation.
    """
    if threat.norm not in ("Linf", "L2"):
        raise UsageError(f"PGD needs a Linf or L2 threat model, not {threat.norm!r}")
    x = x.detach()
    if start is not None:
        x_adv = start.detach().clone()
    elif random_init:
        if generator is None:
            raise UsageError("PGD with a random start needs a torch.Generator")
        x_adv = random_start(x, threat, generator)
    else:
        x_adv = x.clone()
    if not early_stop:
        for _ in range(steps):
            grad, _logits, _obj = input_gradient(model, x_adv, y, loss, target)
            x_adv = threat.project(x_adv + step_size * steepest_direction(grad, threat.norm), x)
        return x_adv.detach()
    every = compact_every or (1 if x.device.type == "cpu" else 5)
    result = x_adv.clone()
    idx = torch.arange(x.shape[0], device=x.device)
    xa, x0, ya, ta = x_adv, x, y, target
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for step in range(steps):
        grad, logits, _obj = input_gradient(model, xa, ya, loss, ta)
        done = done | success(logits, ya, ta)
        stepped = threat.project(xa + step_size * steepest_direction(grad, threat.norm), x0)
        xa = torch.where(bcast(done, xa), xa, stepped)
        if (step + 1) % every == 0 and step + 1 < steps and bool(done.any()):
            result[idx[done]] = xa[done]
            keep = ~done
            idx, xa, x0, ya, done = idx[keep], xa[keep], x0[keep], ya[keep], done[keep]
            ta = None if ta is None else ta[keep]
            if idx.numel() == 0:
                break
    result[idx] = xa
    return result.detach()
