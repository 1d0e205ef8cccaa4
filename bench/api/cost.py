"""Compute cost of a component, for ``robarena run SUITE --dry-run`` (:mod:`bench.runner.estimate`).

A cost counts *example passes* of the model: one forward pass of one example through the
network is 1 forward; a backward pass through a batch of b examples is b backwards (a
backward for an input gradient counts like one for a parameter gradient). A component
declares its cost with an optional ``cost`` method; one without it gets a default (defenses)
or is shown as of unknown cost (attacks, probes, tasks):

* ``Defense.cost(self, n_train) -> Cost``: the whole training on ``n_train`` examples, with
  ``self.config`` and the suite's budget ``self.train`` (epochs, batch size). Default when
  undeclared: standard training, 1 forward + 1 backward per example and epoch.
* ``Attack.cost(self, threat) -> Cost``: per attacked example, an upper bound (every step of
  every restart, no early stop).
* ``Probe.cost(self, n, n_train) -> Cost`` and ``Task.cost(self, n, n_train) -> Cost``: the
  whole cell, for ``n`` evaluation and ``n_train`` training examples.

``cost`` may return None where it cannot tell (the cell is then of unknown cost).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Forward and backward example passes (see the module docstring)."""

    forward: float = 0.0
    backward: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.forward + other.forward, self.backward + other.backward)

    def __mul__(self, k: float) -> "Cost":
        return Cost(self.forward * k, self.backward * k)

    __rmul__ = __mul__

    @classmethod
    def steps(cls, k: float) -> "Cost":
        """``k`` forward + backward passes (``k`` gradient steps of one example)."""
        return cls(float(k), float(k))
