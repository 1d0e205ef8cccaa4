"""Time a model's passes while an attack runs: the attack's own floor, priced during the run.

:class:`PassClock` is a :class:`~bench.testing.passes.PassCounter` that also adds up the process
CPU seconds of the model's top-level forward calls (those autograd records, ``graph_forward_s``,
and those it does not, ``forward_s``) and of every ``torch.autograd.grad`` /
``torch.autograd.backward`` call while attached (``backward_s``; the loss's own backward is
included, a small part next to the model's). A member's time over its **in-run floor** (its
budget of passes priced at what those passes cost in that same run, :meth:`PassClock.floor_s`)
does not move with the machine's speed, because both sides are measured at once: what it shows is
the work an implementation does besides its budgeted passes, and any pass beyond the budget.
``cpu_s / model_s`` is the same without the budget: time over the passes the run actually made.

Used by the AutoAttack benchmarks (docs/performance.md). While attached, the clock replaces
``torch.autograd.grad`` and ``torch.autograd.backward`` process-wide (restored by
:meth:`PassClock.remove`), so attach one clock at a time::

    with PassClock(model) as clock:
        attack(model, x, y, threat)
    ratio = clock.cpu_s / clock.floor_s(fb=900 * len(x), f=0)
"""
from __future__ import annotations

import functools
import time
from typing import Any, Callable

import torch
from torch import nn

from bench.testing.passes import PassCounter, _first_tensor


class PassClock(PassCounter):
    """Forward and backward example passes of ``model`` and their process CPU seconds.

    Args:
        model: the network whose top-level calls are timed and counted.
    Attributes:
        forward, backward: example passes (as :class:`PassCounter`); ``graph_forward`` the
            forward example passes autograd recorded.
        forward_s, graph_forward_s, backward_s: CPU seconds of forward calls without and with a
            graph, and of autograd calls; ``cpu_s``: CPU seconds since the clock was attached
            (until :meth:`remove`).
    """

    def __init__(self, model: nn.Module) -> None:
        self.forward_s = self.graph_forward_s = self.backward_s = 0.0
        self.graph_forward = 0
        self._starts: list[float] = []
        self._depth = 0
        super().__init__(model)
        self._pre_handle = model.register_forward_pre_hook(self._on_forward_start)
        self._originals = (torch.autograd.grad, torch.autograd.backward)
        torch.autograd.grad = self._timed(torch.autograd.grad)
        torch.autograd.backward = self._timed(torch.autograd.backward)
        self._attached_at, self._removed_at = time.process_time(), None

    def _on_forward_start(self, module: nn.Module, inputs: Any) -> None:
        self._starts.append(time.process_time())

    def _on_forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        elapsed = time.process_time() - self._starts.pop() if self._starts else 0.0
        super()._on_forward(module, inputs, output)
        out = _first_tensor(output)
        if out is not None and out.dim() > 0 and out.requires_grad:
            self.graph_forward_s += elapsed
            self.graph_forward += int(out.shape[0])
        else:
            self.forward_s += elapsed

    def _timed(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:  # an autograd call inside another is timed once
                    self.backward_s += time.process_time() - t0
        return timed

    @property
    def cpu_s(self) -> float:
        end = self._removed_at if self._removed_at is not None else time.process_time()
        return end - self._attached_at

    @property
    def model_s(self) -> float:
        """CPU seconds inside the model's passes: forward calls of both kinds and autograd calls."""
        return self.forward_s + self.graph_forward_s + self.backward_s

    @property
    def plain_forward(self) -> int:
        """Forward example passes without a graph."""
        return self.forward - self.graph_forward

    def floor_s(self, fb: float, f: float) -> float:
        """``fb`` forward+backward and ``f`` forward example passes priced at this run's own costs:
        (graph forwards + autograd calls) per backward example pass, plain forwards per plain
        forward example pass (graph forwards when the run made none)."""
        per_fb = (self.graph_forward_s + self.backward_s) / self.backward if self.backward else 0.0
        if self.plain_forward:
            per_f = self.forward_s / self.plain_forward
        else:
            per_f = self.graph_forward_s / self.graph_forward if self.graph_forward else 0.0
        if (fb and not per_fb) or (f and not per_f):
            raise ValueError(f"the run made no pass to price a floor of {fb} forward+backward and {f} forward "
                             f"example passes with (backward {self.backward}, forward {self.forward})")
        return fb * per_fb + f * per_f

    def remove(self) -> None:
        """Detach the hooks and give autograd its functions back (the readings stay)."""
        if self._removed_at is None:
            self._removed_at = time.process_time()
            torch.autograd.grad, torch.autograd.backward = self._originals
            self._pre_handle.remove()
        super().remove()
