"""Instance-space margin: per-example distance to the decision boundary (P1 Definition 6).

P1 defines the instance-space margin ``v(x)`` of an example as the distance from ``x`` to the
closest point of the decision boundary (Def. 6; its covering balls are L2). It is measured
here from the output of a minimal-perturbation attack that the suite already ran (classics'
``deepfool`` or ``fab``): for a clean-correct example the attack moved across the boundary,
``v(x) <= ||x_adv - x||`` in the attack's threat norm, an upper bound that is tight when the
attack finds the nearest boundary point (DeepFool overshoots it by a factor ``1 + overshoot``,
0.02 by default). The probe re-attacks nothing: it reads ``ProbeInput.attacks``.

A minimal-perturbation attack returns the clean input where it failed or where its distance
exceeds the threat model's eps, so give it a large eps (e.g. L2 eps = sqrt(d), the diameter
of the [0, 1] box) to measure every distance.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.errors import UsageError
from bench.toolkit import batched_logits

#: attack-column prefixes taken by default (case-insensitive), in order of preference
MINIMAL_ATTACKS = ("deepfool", "fab")
#: leaderboard flag of a row whose suite ran no minimal-perturbation attack (the columns are then NaN)
NO_MINIMAL_ATTACK = "instance-margin-without-minimal-attack"


class InstanceMarginConfig(BaseConfig):
    attack: Optional[str] = Field(
        None, description="attack column to read (e.g. 'deepfool L2 8'); None = the first column whose label "
                          "starts with 'deepfool' or 'fab'")


def pick_attack_column(columns: list[str], wanted: Optional[str]) -> Optional[str]:
    """The attack column to read: ``wanted`` if given (an error if absent), else the first DeepFool,
    then FAB column, or None when the row ran neither."""
    if wanted is not None:
        if wanted not in columns:
            raise UsageError(f"probe instance-margin: attack column {wanted!r} is not in this row's attacks "
                             f"{columns}; set params.attack to one of them")
        return wanted
    for prefix in MINIMAL_ATTACKS:
        for column in columns:
            if column.lower().startswith(prefix):
                return column
    return None


def boundary_distances(model: nn.Module, data: ProbeInput, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(distances (N,), clean_correct (N,) bool): ``||x_adv - x||`` in the threat norm where the model
    classifies ``x`` correctly and ``x_adv`` wrongly; ``inf`` where ``x`` is correct and ``x_adv`` is
    not across the boundary (the attack failed or went past eps); NaN where ``x`` is misclassified."""
    record = data.attacks[column]
    if tuple(record.x_adv.shape) != tuple(data.x.shape):
        raise UsageError(f"attack column {column!r} holds {tuple(record.x_adv.shape)} examples for "
                         f"{tuple(data.x.shape)} inputs")
    y = data.y.cpu()
    clean_ok = batched_logits(model, data.x, data.device, data.batch_size).argmax(dim=1) == y
    crossed = batched_logits(model, record.x_adv, data.device, data.batch_size).argmax(dim=1) != y
    dist = record.threat.distance(record.x_adv.double().cpu(), data.x.double().cpu())
    dist = torch.where(crossed, dist, torch.full_like(dist, math.inf))
    dist = torch.where(clean_ok, dist, torch.full_like(dist, math.nan))
    return dist.numpy(), clean_ok.numpy()


class InstanceMarginProbe(Probe):
    """Distances from clean-correct test examples to the decision boundary, from a minimal attack.

    Columns (over clean-correct examples): ``mean`` and ``median`` of the distances the attack
    found (examples it did not move across the boundary left out; NaN when there are none),
    ``frac_found`` (fraction of clean-correct examples with a boundary point found). Arrays:
    ``distances`` (N,): the distance, ``inf`` where not found, NaN for misclassified examples.
    The norm is the attack's threat norm (L2 for P1's Def. 6).

    A row with no ``deepfool*`` or ``fab*`` column (and no ``attack`` set) gets NaN columns and
    the leaderboard flag ``instance-margin-without-minimal-attack``: add ``classics/deepfool`` to
    the suite. An ``attack`` that names a missing column is an error.

    Args (``InstanceMarginConfig``): attack=None (the first ``deepfool*`` or ``fab*`` column).
    """

    Config = InstanceMarginConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """Two forwards per evaluation example (the logits of x and of the attack's x_adv; the attack itself is
        the attack stage's). An upper bound: none when the row ran no minimal-perturbation attack."""
        return Cost(forward=2.0 * n)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        column = pick_attack_column(list(data.attacks), self.config.attack)
        if column is None:
            nan = np.full(data.x.shape[0], math.nan)
            return ProbeResult({"mean": math.nan, "median": math.nan, "frac_found": math.nan},
                               {"distances": nan}, flags=[NO_MINIMAL_ATTACK])
        dist, clean_ok = boundary_distances(model, data, column)
        found = dist[clean_ok & np.isfinite(dist)]
        n_ok = int(clean_ok.sum())
        scalars = {"mean": float(found.mean()) if found.size else math.nan,
                   "median": float(np.median(found)) if found.size else math.nan,
                   "frac_found": found.size / n_ok if n_ok else math.nan}
        return ProbeResult(scalars, {"distances": dist})
