"""Schema-2 leaderboard rows built by hand, shaped as the runner writes them, and their frame:
for testing claims (a plugin author's and the built-in plugins' claim tests).

A component is ``(label, id, params)``; accuracies are fractions turned into counts of ``N``, or
counts ``(correct, n)`` given as a tuple.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Optional

from bench.rows.frame import to_frame
from bench.rows.schema import Accuracy

N = 10_000
DIGITS = ("digits", "core/digits", {"n_test": None, "n_train": None})
SMALL_CNN = ("small-cnn", "classics/small-cnn", {"width": 1})
PROVENANCE = {"core_version": "0.1.0", "plugins": {}, "specs": {}, "config_hash": "cfg", "data_fingerprint": "fp",
              "n": N, "device": "cpu", "date": "2024-06-01T12:00:00Z", "torch_version": "2.3.0",
              "platform": "Linux", "suite": "test", "suite_version": "1"}


def accuracy(value: Any, n: int = N) -> Optional[dict[str, Any]]:
    """An accuracy record: a fraction ``value`` of ``n`` examples, or exact counts ``(correct, n)``."""
    if isinstance(value, tuple):
        return Accuracy.of(*value).model_dump()
    return None if value is None else Accuracy.of(round(value * n), n).model_dump()


def attack(label: str, ident: str, params: dict[str, Any], value: Optional[float], *, norm: str = "Linf",
           eps: float = 0.1, display: Optional[str] = None, targeted: bool = False,
           substitute: Optional[str] = None) -> dict[str, Any]:
    return {"attack_id": ident, "label": label, "params": dict(params), "substitute": substitute,
            "threat": {"norm": norm, "eps": eps, "eps_display": display or f"{eps:g}", "targeted": targeted},
            "accuracy": accuracy(value)}


def metric(kind: str, label: str, ident: str, params: dict[str, Any], column: str,
           value: Optional[float]) -> dict[str, Any]:
    return {"kind": kind, "source_id": ident, "label": label, "params": dict(params), "column": column,
            "value": value}


def worst_case(attacks: Iterable[str], value: Optional[float], *, norm: str = "Linf", eps: float = 0.1,
               display: Optional[str] = None) -> dict[str, Any]:
    return {"threat": {"norm": norm, "eps": eps, "eps_display": display or f"{eps:g}", "targeted": False},
            "attacks": list(attacks), "accuracy": accuracy(value)}


def row(defense: tuple, *, dataset: tuple = DIGITS, model: tuple = SMALL_CNN, seed: int = 0,
        clean: Optional[float] = None, attacks: Iterable[dict] = (), worst: Iterable[dict] = (),
        probes: Iterable[dict] = (), tasks: Iterable[dict] = ()) -> dict[str, Any]:
    """A row dict of ``defense`` on ``dataset`` and ``model`` (each ``(label, id, params)``)."""
    (d_label, d_id, d_params), (m_label, m_id, m_params), (f_label, f_id, f_params) = dataset, model, defense
    return {"row_id": f"{d_label}/{m_label}/{f_label}/seed{seed}", "dataset": d_label, "model": m_label,
            "defense": f_label, "seed": seed, "dataset_id": d_id, "model_id": m_id, "defense_id": f_id,
            "dataset_params": dict(d_params), "model_params": dict(m_params), "defense_params": dict(f_params),
            "clean": accuracy(clean), "attacks": list(attacks), "worst_case": list(worst),
            "probe_results": list(probes), "task_results": list(tasks), "provenance": {**PROVENANCE, "seed": seed}}


def relabel(rows: Iterable[dict], labels: dict[str, str]) -> list[dict]:
    """The rows with every label (dataset, model, defense, attack, probe, task) renamed by ``labels``."""
    out = []
    for original in rows:
        r = copy.deepcopy(original)
        for key in ("dataset", "model", "defense"):
            r[key] = labels.get(r[key], r[key])
        r["row_id"] = f"{r['dataset']}/{r['model']}/{r['defense']}/seed{r['seed']}"
        for a in r["attacks"]:
            a["label"] = labels.get(a["label"], a["label"])
        for w in r["worst_case"]:
            w["attacks"] = [labels.get(name, name) for name in w["attacks"]]
        for m in r["probe_results"] + r["task_results"]:
            m["label"] = labels.get(m["label"], m["label"])
        out.append(r)
    return out


def frame(rows: Iterable[dict]) -> Any:
    """The leaderboard frame of ``rows`` (:func:`bench.rows.frame.to_frame`, with its column descriptions)."""
    return to_frame(list(rows), provenance=False)
