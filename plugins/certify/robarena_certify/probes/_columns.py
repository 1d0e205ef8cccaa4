"""Certified-accuracy columns with their Clopper–Pearson intervals."""
from __future__ import annotations

from bench.stats import proportion_interval


def accuracy_columns(name: str, k: int, n: int, level: float = 0.95) -> dict[str, float]:
    """``name`` = k/n, ``name_low`` / ``name_high`` (Clopper–Pearson at ``level``), ``name_k`` = k."""
    ci = proportion_interval(k, n, level=level, method="clopper-pearson")
    return {name: ci.estimate, f"{name}_low": ci.low, f"{name}_high": ci.high, f"{name}_k": float(k)}
