"""Helpers shared by the P0 probes: the evaluation subset, batched logits, pairs, the attack to read."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from bench.api.probe import AttackRecord, ProbeInput
from bench.errors import UsageError


def subset(data: ProbeInput, n: Optional[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` evaluation examples (all when ``n`` is None) on the probe's device."""
    x, y = (data.x, data.y) if n is None else (data.x[:n], data.y[:n])
    if x.shape[0] == 0:
        raise UsageError("the probe got no evaluation examples; raise [eval] n")
    return x.to(data.device), y.to(data.device)


@torch.no_grad()
def batched_logits(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Logits (N, L) of ``x`` (N, C, H, W) in batches, on ``x``'s device."""
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def different_class_pairs(y: torch.Tensor, n_pairs: int, generator: torch.Generator) -> torch.Tensor:
    """``n_pairs`` index pairs (i, j) drawn uniformly, with replacement, from {(i, j): y_i != y_j}.

    P0 Eq. 3's set S of pairs from different categories. Rejection sampling: draw i and j
    uniformly from the N examples (from ``generator``) and keep pairs of different labels, which
    is uniform over S. Returns (n_pairs, 2) int64 on the CPU. Needs two labels present.
    """
    y = y.cpu()
    n = y.shape[0]
    if torch.unique(y).numel() < 2:
        raise UsageError("different-class pairs need at least two classes among the evaluation examples")
    kept: list[torch.Tensor] = []
    have = 0
    while have < n_pairs:
        draw = 2 * (n_pairs - have) + 16
        idx = torch.randint(0, n, (draw, 2), generator=generator, device=generator.device).cpu()
        idx = idx[y[idx[:, 0]] != y[idx[:, 1]]]
        kept.append(idx)
        have += idx.shape[0]
    return torch.cat(kept)[:n_pairs]


def choose_attack(attacks: dict[str, AttackRecord], name: Optional[str], probe: str) -> tuple[str, AttackRecord]:
    """The attack stage's record a probe reads: ``name`` is a column (``"PGD-20 Linf 0.1"``) or the
    label of exactly one column (``"PGD-20"``); ``None`` = the first Linf attack of the suite."""
    columns = list(attacks)
    if not columns:
        raise UsageError(f"probe {probe} needs the suite's attacks: add an [[attacks]] entry (e.g. classics/pgd)")
    if name is None:
        linf = [c for c in columns if attacks[c].threat.norm == "Linf"]
        if not linf:
            raise UsageError(f"probe {probe} found no Linf attack among {columns}; name one with params.attack")
        return linf[0], attacks[linf[0]]
    if name in attacks:
        return name, attacks[name]
    matches = [c for c in columns if c.startswith(name + " ")]
    if len(matches) != 1:
        raise UsageError(f"probe {probe}: attack {name!r} matches {len(matches)} of the suite's attack columns "
                         f"{columns}; give a full column name")
    return matches[0], attacks[matches[0]]
