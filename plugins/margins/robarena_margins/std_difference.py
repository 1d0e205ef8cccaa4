"""Accumulated differences of per-layer singular-value STDs between two models (P1 Appendix B.2).

P1 compares the STD of the singular values of every layer of a network trained at AR strength
4 (``a``) with the same network trained at AR strength 16 (``b``) and splits the layers in two
groups: those whose STD decreased (``sigma_a > sigma_b``), with accumulated decrease
``sum (sigma_a - sigma_b)`` and its mean over the group, and those whose STD increased, with
``sum (sigma_b - sigma_a)`` and its mean. On ResNet-56 / CIFAR-10 it reports a decrease of 4.7465
(mean 0.1158) against an increase of 0.4372 (mean 0.0312): AR lowers the STDs.

Torch-free: works on leaderboard rows, whose ``sv_std.<layer>`` results the
``margins/layer-spectrum`` probe writes (found by probe id and column name, not by label).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from bench.errors import UsageError

#: the per-layer column prefix of the layer-spectrum probe (``sv_std.<module name>``)
STD_PREFIX = "sv_std."


@dataclass(frozen=True)
class StdDifference:
    """Accumulated STD change from model ``a`` to model ``b`` over their common layers.

    ``decrease_sum``: sum of ``sigma_a - sigma_b`` over the ``n_decrease`` layers where it is > 0;
    ``increase_sum``: sum of ``sigma_b - sigma_a`` over the ``n_increase`` layers where that is > 0;
    the means are the sums over the group sizes (NaN for an empty group). Layers with equal
    STDs belong to neither group.
    """

    decrease_sum: float
    decrease_mean: float
    n_decrease: int
    increase_sum: float
    increase_mean: float
    n_increase: int


def accumulated_std_difference(row_a_stds: Mapping[str, float], row_b_stds: Mapping[str, float]) -> StdDifference:
    """P1 B.2's two accumulated STD differences between models ``a`` and ``b`` (layer name -> STD each).

    Both mappings must name the same layers (the same architecture); an error says which differ.
    """
    a = {k: float(v) for k, v in row_a_stds.items()}
    b = {k: float(v) for k, v in row_b_stds.items()}
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise UsageError(f"the two models have different layers (only in a: {only_a[:5]}, only in b: {only_b[:5]}); "
                         "accumulated STD differences compare one architecture trained two ways")
    if not a:
        raise UsageError("no layer STDs to compare")
    bad = sorted(k for k in a if not (math.isfinite(a[k]) and math.isfinite(b[k])))
    if bad:
        raise UsageError(f"layer STDs must be finite numbers; not finite for {bad[:5]}")
    diffs = [a[k] - b[k] for k in a]
    down = [d for d in diffs if d > 0]
    up = [-d for d in diffs if d < 0]
    return StdDifference(sum(down), sum(down) / len(down) if down else math.nan, len(down),
                         sum(up), sum(up) / len(up) if up else math.nan, len(up))


def stds_from_row(row: Any, probe: str = "margins/layer-spectrum") -> dict[str, float]:
    """Layer name -> STD from a schema-2 leaderboard row (:class:`bench.rows.schema.Row`): the
    ``sv_std.<layer>`` results of the probe with id ``probe``, whatever the suite labelled it.

    Missing (None or NaN) values are dropped.
    """
    out = {}
    for m in row.probe_results:
        if m.source_id == probe and m.column.startswith(STD_PREFIX) and m.value is not None \
                and not math.isnan(float(m.value)):
            out[m.column[len(STD_PREFIX):]] = float(m.value)
    return out
