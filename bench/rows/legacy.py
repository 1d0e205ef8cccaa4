"""Read schema-version-1 rows (label-keyed dicts) as version-2 rows.

Version 1 stored results under display labels (``"pgd Linf 8/255"`` -> 0.488). Reading an old
snapshot is one of the few places a label must be taken apart: the label is split back into
attack label and threat (the format :mod:`bench.rows.labels` writes), and the component id is
the spec of the row's provenance whose name equals the label, when there is exactly one.
Counts are recovered exactly from the fractions and ``provenance.n``.
"""
from __future__ import annotations

from typing import Any, Optional

from bench.rows.schema import SCHEMA_VERSION, Accuracy, AttackResult, MetricResult, Threat, WorstCase


def _eps_value(text: str) -> Optional[float]:
    try:
        if "/" in text:
            num, den = text.split("/")
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def _threat(tokens: list[str]) -> tuple[Threat, list[str]]:
    """Split ``[... attack label ...] <norm> <eps> [targeted]`` (or ``... unbounded [targeted]``) from the right."""
    targeted = bool(tokens) and tokens[-1] == "targeted"
    if targeted:
        tokens = tokens[:-1]
    if tokens and tokens[-1] == "unbounded":
        return Threat(norm="unbounded", eps=None, eps_display="inf", targeted=targeted), tokens[:-1]
    if len(tokens) >= 2:
        return Threat(norm=tokens[-2], eps=_eps_value(tokens[-1]), eps_display=tokens[-1], targeted=targeted), tokens[:-2]
    return Threat(norm="?", eps=None, eps_display="?", targeted=targeted), tokens


def _component_id(label: str, specs: dict[str, str]) -> str:
    found = [qid for qid in specs if qid.split("/", 1)[-1] == label]
    return found[0] if len(found) == 1 else f"?/{label}"


def _accuracy(value: Optional[float], n: int) -> Optional[Accuracy]:
    return None if value is None else Accuracy.from_fraction(value, n)


def _metrics(kind: str, values: dict[str, Optional[float]], specs: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        label, _, column = key.partition(".")
        out.append(MetricResult(kind=kind, source_id=_component_id(label, specs), label=label, column=column,
                                value=value).model_dump())  # type: ignore[arg-type]
    return out


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 row dict as a version-2 row dict (validated by the caller)."""
    data = dict(data)
    prov = data.get("provenance") or {}
    n = int(prov.get("n", 0)) if isinstance(prov, dict) else 0
    specs = prov.get("specs", {}) if isinstance(prov, dict) else {}
    attacks = []
    for key, value in (data.pop("robust", None) or {}).items():
        threat, rest = _threat(key.split())
        label = " ".join(rest)
        attacks.append(AttackResult(attack_id=_component_id(label, specs), label=label, threat=threat,
                                    accuracy=_accuracy(value, n)).model_dump())
    worst = []
    for key, value in (data.pop("ensemble", None) or {}).items():
        threat, _ = _threat(key.split())
        members = [a["label"] for a in attacks if Threat(**a["threat"]) == threat]
        worst.append(WorstCase(threat=threat, attacks=members, accuracy=_accuracy(value, n)).model_dump())
    clean = data.pop("clean_accuracy", None)
    data.update(schema_version=SCHEMA_VERSION, clean=_accuracy(clean, n).model_dump() if clean is not None else None,
                attacks=attacks, worst_case=worst,
                probe_results=_metrics("probe", data.pop("probes", None) or {}, specs),
                task_results=_metrics("task", data.pop("tasks", None) or {}, specs))
    return data
