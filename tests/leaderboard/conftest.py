"""Hand-built leaderboard rows for the leaderboard tests."""
from __future__ import annotations

from typing import Any

import pytest

from bench.rows.schema import Accuracy, Row

SUITE = "quick"
N = 10_000  # accuracies below are k / N with integer k, so every value is its own count exactly


def _acc(value: Any) -> Any:
    """An accuracy entry for a fraction (None stays None; a non-number is passed on for validation tests)."""
    if value is None or not isinstance(value, float):
        return value
    return Accuracy.of(round(value * N), N).model_dump()


def _threat(eps: float = 0.1) -> dict[str, Any]:
    return {"norm": "Linf", "eps": eps, "eps_display": f"{eps:g}", "targeted": False}


def _row_dict(defense: str = "standard", seed: int = 0, *, clean: Any = 0.8123, pgd: Any = 0.4567,
             fgsm: Any = 0.5, probe: Any = 0.125, task: Any = 12.5, flags: tuple[str, ...] = (),
             errors: tuple[str, ...] = (), plugins: dict[str, str] | None = None,
             specs: dict[str, str] | None = None, **prov: Any) -> dict[str, Any]:
    """A row of suite 'quick' on digits/mlp as a plain dict (override any provenance field by keyword)."""
    provenance = {
        "core_version": "0.1.0",
        "plugins": plugins if plugins is not None else {"robarena-classics": "0.1.0"},
        "specs": specs if specs is not None else {"classics/pgd": "1", "classics/fgsm": "1", "classics/mlp": "1"},
        "config_hash": "cfg-aaaa", "data_fingerprint": "digits-1797-abcd", "seed": seed, "n": 500,
        "device": "cpu", "date": "2024-06-01T12:00:00Z", "torch_version": "2.3.0",
        "platform": "Linux-x86_64", "suite": SUITE, "suite_version": "1",
    }
    provenance.update(prov)
    return {
        "row_id": f"digits/mlp/{defense}/seed{seed}", "dataset": "digits", "model": "mlp", "defense": defense,
        "seed": seed, "dataset_id": "core/digits", "model_id": "classics/mlp", "defense_id": f"classics/{defense}",
        "clean": _acc(clean),
        "attacks": [{"attack_id": "classics/pgd", "label": "pgd", "params": {"steps": 20}, "threat": _threat(),
                     "accuracy": _acc(pgd)},
                    {"attack_id": "classics/fgsm", "label": "fgsm", "params": {}, "threat": _threat(),
                     "accuracy": _acc(fgsm)}],
        "worst_case": [{"threat": _threat(), "attacks": ["pgd", "fgsm"],
                        "accuracy": None if pgd is None else _acc(min(pgd, fgsm))}],
        "probe_results": [{"kind": "probe", "source_id": "classics/margin", "label": "margin", "column": "mean",
                           "value": probe}],
        "task_results": [{"kind": "task", "source_id": "infotransfer/transfer", "label": "transfer",
                          "column": "loss", "value": task}],
        "flags": list(flags), "errors": list(errors),
        "artifacts": {"checkpoint": f"sha256-{defense}-{seed}"},
        "provenance": provenance,
    }


def _make_row(*args: Any, **kwargs: Any) -> Row:
    return Row.model_validate(_row_dict(*args, **kwargs))


@pytest.fixture
def row_dict():
    """Factory: ``row_dict(defense, seed, clean=..., pgd=..., flags=..., <provenance field>=...)`` -> dict."""
    return _row_dict


@pytest.fixture
def make_row():
    """Factory like ``row_dict`` that returns a validated :class:`Row`."""
    return _make_row


@pytest.fixture
def rows() -> list[Row]:
    """Three rows, given out of row_id order; one flagged, one with a failed cell."""
    return [
        _make_row("standard", 0),
        _make_row("pgd-at", 0, clean=0.75, pgd=0.6, fgsm=0.625, flags=("square_beats_whitebox",)),
        _make_row("fgsm-at", 1, clean=0.7, pgd=None, fgsm=0.25, probe=None,
                 errors=("attack classics/pgd: RuntimeError: out of memory",)),
    ]
