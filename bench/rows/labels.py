"""The rendering edge: display labels of typed results (terminal, CSV, HTML, LaTeX).

Labels are produced here and nowhere else; no code selects a result by parsing one
(select with :meth:`bench.rows.schema.Row.attack` and friends instead).
"""
from __future__ import annotations

from bench.rows.schema import AttackResult, Threat


def threat_label(threat: Threat) -> str:
    """``Linf 8/255``, ``L2 0.5 targeted`` or ``unbounded``."""
    base = "unbounded" if threat.norm == "unbounded" else f"{threat.norm} {threat.eps_display}"
    return base + (" targeted" if threat.targeted else "")


def attack_column(attack: AttackResult) -> str:
    """``<attack label> <threat label>``, e.g. ``pgd Linf 8/255``."""
    return f"{attack.label} {threat_label(attack.threat)}"
