"""The rendering edge: display labels of typed results (terminal, CSV, HTML, LaTeX).

Labels are produced here and nowhere else; no code selects a result by parsing one
(select with :meth:`bench.rows.schema.Row.attack` and friends instead).
"""
from __future__ import annotations

from bench.rows.schema import AttackResult, CertifiedResult, CorruptionResult, MetricResult, PublishedResult, Threat


def threat_label(threat: Threat) -> str:
    """``Linf 8/255``, ``L2 0.5 targeted`` or ``unbounded``."""
    base = "unbounded" if threat.norm == "unbounded" else f"{threat.norm} {threat.eps_display}"
    return base + (" targeted" if threat.targeted else "")


def attack_column(attack: AttackResult) -> str:
    """``<attack label> <threat label>``, e.g. ``pgd Linf 8/255``."""
    return f"{attack.label} {threat_label(attack.threat)}"


def certified_column(certified: CertifiedResult) -> str:
    """``<probe label> <threat label>``, plus `` smoothed`` for a smoothed classifier, e.g. ``ibp Linf 8/255``."""
    suffix = " smoothed" if certified.classifier == "smoothed" else ""
    return f"{certified.label} {threat_label(certified.threat)}{suffix}"


def corruption_column(result: CorruptionResult) -> str:
    """``<corruption label> s<severity>``, e.g. ``gaussian_noise s3``."""
    return f"{result.label} s{result.severity}"


def published_column(published: PublishedResult) -> str:
    """``published[clean]`` or ``published[robust Linf 8/255]``: the column of a published value."""
    if published.threat is None:
        return f"published[{published.metric}]"
    return f"published[{published.metric} {threat_label(published.threat)}]"


def published_partner(published: PublishedResult) -> str:
    """The measured column a published value is compared with: ``clean``, or the worst case at its
    threat (``ensemble[Linf 8/255]``)."""
    return "clean" if published.threat is None else f"ensemble[{threat_label(published.threat)}]"


def metric_name(metric: MetricResult) -> str:
    """``<label>.<column>``, e.g. ``margin.mean``; at a training epoch ``<label>.<column>@e<epoch>``
    (``cckl.cckl@e5``): the part inside ``probe[...]`` / ``task[...]``."""
    at = f"@e{metric.epoch}" if metric.epoch is not None else ""
    return f"{metric.label}.{metric.column}{at}"
