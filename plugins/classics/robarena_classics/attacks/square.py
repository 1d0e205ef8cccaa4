"""Square Attack: score-based random search with square-shaped updates, Linf and L2, untargeted.

Paper: M. Andriushchenko, F. Croce, N. Flammarion and M. Hein, "Square Attack: a
query-efficient black-box adversarial attack via random search", ECCV 2020
(https://arxiv.org/abs/1912.00049), Algorithms 1 and 2; AutoAttack's gradient-free member.

Linf version, per example:

* start from vertical stripes: ``x + eps * r`` with one sign ``r`` in {-1, +1} per channel
  and column, clamped to the box;
* at iteration ``i`` pick a square window of side ``s = round(sqrt(p_i * H * W))`` (clipped
  to ``[1, min(H, W) - 1]``) at a uniform position and set it, per channel, to ``x +/- eps``
  (a uniform sign per channel), clamped to the box;
* keep the proposal when it lowers the margin loss ``z_y - max_{i != y} z_i``; stop at the
  first proposal the model misclassifies.

The L2 version (tiled pseudo-Gaussian bumps, windows that move mass from one square to
another) is in :mod:`.aa_square_l2`; the search loop is shared.

``p_i`` starts at ``p_init = 0.8`` and halves on the published piecewise schedule, written
for 10,000 iterations (:func:`p_schedule`). By default the schedule is rescaled to
``n_queries``, as the reference ``SquareAttack`` does by default (``resc_schedule=True``);
AutoAttack's standard version runs Square with ``resc_schedule=False`` (5000 queries on the
10,000-iteration schedule, so ``p`` only falls to ``p_init / 128``), which
``rescale_schedule=False`` reproduces (github.com/fra31/auto-attack, ``autoattack.py`` and
``square.py``, ``p_selection``). One query is the
initial point, so there are ``n_queries - 1`` iterations. Only forward passes are used
(``torch.no_grad``). Random numbers (stripes, positions, signs) are drawn for the whole
batch at every iteration and only then restricted to the examples still attacked, so an
example's search does not depend on the others (see :mod:`.aa_common`). Examples leave the
batch once fooled: checked at every iteration on CPU and every ``_COMPACT_EVERY`` iterations
on accelerators, where the check is a host synchronisation (fooled examples are frozen in
between).
"""
from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import Attack, BaseConfig, Cost
from bench.threat import ThreatModel
from bench.toolkit import bcast, margin
from robarena_classics.attacks.aa_common import clean_correct, random_ints, random_signs
from robarena_classics.attacks.aa_square_l2 import l2_init, l2_propose

#: iterations between removals of fooled examples from the batch on accelerators, where the check
#: is a host synchronisation (every iteration on CPU); results do not depend on it
_COMPACT_EVERY = 10

# (upper end of the iteration range out of 10,000, divisor of p_init) of the published schedule
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
             (8000, 256))


def p_schedule(p_init: float, i: int, n_queries: int, rescale: bool = True) -> float:
    """Fraction of pixels in the window at iteration ``i`` (0-based) of ``n_queries``.

    The published schedule halves ``p`` after iterations 10, 50, 200, 500, 1000, 2000, 4000,
    6000 and 8000 of 10,000; with ``rescale`` ``i`` is first rescaled to
    ``int(i / n_queries * 10000)``, without it the schedule is read at ``i`` itself.
    """
    it = int(i / n_queries * 10000) if rescale else i
    for end, divisor in _SCHEDULE:
        if it <= end:
            return p_init / divisor
    return p_init / 512


def window_side(p: float, h: int, w: int) -> int:
    """Side of the square window covering a fraction ``p`` of the H x W pixels, in [1, min(H, W) - 1]."""
    s = int(round(math.sqrt(p * h * w)))
    return max(1, min(s, min(h, w) - 1))


class SquareConfig(BaseConfig):
    """Parameters of :class:`Square` (defaults: Andriushchenko et al. 2020 in AutoAttack standard)."""

    n_queries: int = Field(5000, ge=1, description="queries per example and run, the initial point included "
                                                   "(AutoAttack standard: 5000)")
    p_init: float = Field(0.8, gt=0, le=1, description="initial fraction of pixels changed per step (paper: 0.8)")
    n_restarts: int = Field(1, ge=1, description="runs; later runs attack only the examples not yet fooled")
    rescale_schedule: bool = Field(
        True, description="stretch the 10,000-iteration p schedule to n_queries (the reference SquareAttack's "
                          "default); AutoAttack standard runs it with false")


class Square(Attack):
    """Square Attack (Linf or L2, untargeted, margin loss): gradient-free random search.

    Threat model: Linf or L2 ball of radius eps intersected with the box. Needs only the
    logits (forward passes under ``torch.no_grad``).

    Args (``SquareConfig``): n_queries=5000, p_init=0.8, n_restarts=1, rescale_schedule=True
    (AutoAttack standard: False). ``seed``: seed of the attack's generator.

    Returns, per example: the first proposal the model misclassifies; for an example never
    fooled, the point of lowest margin found (the first run's on ties); the clean input for
    a clean-misclassified one.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64; returns ``x_adv`` (N, C, H, W).

    Example::

        x_adv = Square(seed=0)(model, x, y, ThreatModel(norm="Linf", eps=8 / 255)).x_adv
    """

    Config = SquareConfig

    @classmethod
    def smoke_config(cls) -> SquareConfig:
        """Conformance checks: 100 queries instead of 5000."""
        return cls.Config(n_queries=100)
    norms = ("Linf", "L2")
    supports_targeted = False

    def active_cost(self, threat: ThreatModel) -> Cost:
        """Per attacked example, an upper bound (``bench.api.cost``): ``n_queries`` forwards per run (the
        initial point and ``n_queries - 1`` proposals), every run, nobody fooled."""
        return Cost(float(self.config.n_queries * self.config.n_restarts), 0.0)

    def cost(self, threat: ThreatModel) -> Cost:
        """Per example: 1 forward for the clean-correct check, then :meth:`active_cost`."""
        return Cost(1, 0) + self.active_cost(threat)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.attack_active(model, x, y, threat, generator, clean_correct(model, x, y))

    @torch.no_grad()
    def attack_active(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
                      generator: torch.Generator, active: torch.Tensor) -> torch.Tensor:
        """Attack the examples where ``active`` (N,) is true; others come back unchanged."""
        x_adv = x.detach().clone()
        best = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
        todo = active.clone()
        for _ in range(self.config.n_restarts):
            if not bool(todo.any()):
                break
            pos, x_run, m_run, fooled = self._search(model, x, y, threat, generator, todo)
            take = fooled | (m_run < best[pos])
            x_adv[pos] = torch.where(bcast(take, x_run), x_run, x_adv[pos])
            best[pos] = torch.where(take, m_run, best[pos])
            todo[pos[fooled]] = False
        return x_adv

    def _search(self, model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor, threat: ThreatModel,
                generator: torch.Generator, active: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One run; returns (positions, x_best, margin, fooled) for the examples of ``active``."""
        linf = threat.norm == "Linf"
        init, propose = (linf_init, linf_propose) if linf else (l2_init, l2_propose)
        n_queries, n_all = self.config.n_queries, x_all.shape[0]
        x_start = init(x_all, threat, generator)
        pos = active.nonzero().flatten()
        finished: list[tuple[torch.Tensor, ...]] = []  # (positions, x_best, margin, fooled) of examples done
        # what the proposals are made from: Linf, the two box-clamped corners x -/+ eps; L2, x itself
        ref, y, x_best = (linf_corners if linf else _same)(x_all[pos], threat), y_all[pos], x_start[pos]
        logits = model(x_best)
        m_best, fooled = margin(logits, y), logits.argmax(dim=1) != y
        every = 1 if x_all.device.type == "cpu" else _COMPACT_EVERY
        for i in range(n_queries - 1):
            if i % every == 0 and bool(fooled.any()):  # fooled examples leave the batch
                keep = (~fooled).nonzero().flatten()
                done = fooled.nonzero().flatten()
                finished.append((pos[done], x_best[done], m_best[done], fooled[done]))
                pos, ref, y, x_best, m_best, fooled = (t[keep] for t in (pos, ref, y, x_best, m_best, fooled))
                if pos.numel() == 0:
                    break
            p = p_schedule(self.config.p_init, i, n_queries, self.config.rescale_schedule)
            x_new = propose(ref, x_best, threat, p, pos, n_all, generator)
            logits = model(x_new)
            m_new = margin(logits, y)
            improved = m_new < m_best
            if every > 1:  # fooled examples are still in the batch: freeze them
                improved &= ~fooled
            x_best = torch.where(bcast(improved, x_new), x_new, x_best)
            m_best = torch.where(improved, m_new, m_best)
            fooled = fooled | (improved & (logits.argmax(dim=1) != y))
        finished.append((pos, x_best, m_best, fooled))
        return tuple(torch.cat(parts) for parts in zip(*finished))


def _same(x: torch.Tensor, threat: ThreatModel) -> torch.Tensor:
    return x


def linf_init(x_all: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
    """Vertical stripes for the whole batch: ``x + eps * r``, one sign r per (example, channel, column)."""
    n_all, c, w = x_all.shape[0], x_all.shape[1], x_all.shape[-1]
    stripes = random_signs((n_all, c, 1, w), generator, x_all)
    return (x_all + threat.eps * stripes).clamp(*threat.bounds)


def linf_corners(x: torch.Tensor, threat: ThreatModel) -> torch.Tensor:
    """(n, 2, C, H, W): ``x - eps`` and ``x + eps`` clamped to the box, the values a window pixel takes."""
    return torch.stack([x - threat.eps, x + threat.eps], dim=1).clamp(*threat.bounds)


#: largest (positions x H x W) for which the window masks of every position are tabulated
_WINDOW_TABLE_MAX = 1 << 22


@functools.lru_cache(maxsize=64)
def _windows(s: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Masks of the s x s windows, indexed by position ``q = top * (W - s + 1) + left``: (Q, 1, H, W)
    bool when small enough, else the (H - s + 1, H) row and (W - s + 1, W) column masks."""
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    tops, lefts = torch.arange(h - s + 1, device=device), torch.arange(w - s + 1, device=device)
    in_h = (rows >= tops[:, None]) & (rows < tops[:, None] + s)
    in_w = (cols >= lefts[:, None]) & (cols < lefts[:, None] + s)
    if in_h.shape[0] * in_w.shape[0] * h * w <= _WINDOW_TABLE_MAX:
        return ((in_h[:, None, :, None] & in_w[None, :, None, :]).reshape(-1, 1, h, w),)
    return in_h, in_w


@functools.lru_cache(maxsize=16)
def _bits(c: int, device: torch.device) -> torch.Tensor:
    return 1 << torch.arange(c, device=device)


def linf_propose(corners: torch.Tensor, x_best: torch.Tensor, threat: ThreatModel, p: float, pos: torch.Tensor,
                 n_all: int, generator: torch.Generator) -> torch.Tensor:
    """One proposal for the examples at batch positions ``pos`` (n,): a window set to ``x +/- eps``
    (``corners`` from :func:`linf_corners`).

    Position and per-channel signs come from one uniform integer per example in
    ``[0, positions * 2^C)``: its high part is the window's position (top-left, row-major), its
    ``C`` low bits the signs (one draw for the whole batch, so per-example independent).
    """
    c, h, w, dev = x_best.shape[1], x_best.shape[-2], x_best.shape[-1], x_best.device
    s = window_side(p, h, w)
    n_pos = (h - s + 1) * (w - s + 1)
    if n_pos.bit_length() + c <= 62:
        r = random_ints(n_pos << c, n_all, generator, dev)[pos]
        q, up = r >> c, (r[:, None] & _bits(c, dev)) != 0
    else:  # too many channels for one integer
        q = random_ints(n_pos, n_all, generator, dev)[pos]
        up = random_signs((n_all, c), generator, x_best)[pos] > 0
    masks = _windows(s, h, w, dev)
    if len(masks) == 1:
        window = masks[0][q]
    else:
        in_h, in_w = masks[0][q // (w - s + 1)], masks[1][q % (w - s + 1)]
        window = in_h[:, None, :, None] & in_w[:, None, None, :]
    return torch.where(window, torch.where(up[:, :, None, None], corners[:, 1], corners[:, 0]), x_best)
