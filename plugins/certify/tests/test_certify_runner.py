"""The runner's sandwich check on every row: certified accuracies beside the empirical ones (Row.certified)."""
from __future__ import annotations

from pathlib import Path

import pytest

import bench
from bench.errors import LeaderboardError
from bench.rows.frame import find_columns, to_frame
from bench.rows.io import validate_row

KIT = Path(__file__).parent / "certify_testkit"


def _suite(probes: list[dict]) -> dict:
    return {
        "name": "certify-tiny",
        "datasets": [{"id": "core/digits", "params": {"n_train": 300, "n_test": 60}}],
        "models": [{"id": "classics/small-cnn"}],
        "defenses": [{"id": "classics/standard"}],
        "attacks": [{"id": "classics/pgd", "norm": "Linf", "eps": [0.01, 0.1],
                     "params": {"steps": 5, "random_start": False, "restarts": 1}}],
        "probes": probes,
        "integrity": False,
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
        "eval": {"n": 60, "batch_size": 60},
    }


@pytest.fixture
def kit(monkeypatch):
    """Only the plugins these suites need (classics, certify, the test kit): no other installed plugin."""
    monkeypatch.syspath_prepend(str(KIT))
    monkeypatch.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")
    from bench.registry import _CACHE

    _CACHE.clear()
    yield ("classics", "certify", "robarena_certify_testkit")
    _CACHE.clear()


def test_ibp_beside_the_worst_case_at_the_same_linf_eps(tmp_path, kit):
    res = bench.run(_suite([{"id": "certify/ibp", "params": {"eps": [0.01, 0.1]}}]), workdir=tmp_path, plugins=kit)
    assert res.ok, res.failures
    (row,) = res.rows
    assert [(c.threat.norm, c.threat.eps_display, c.classifier) for c in row.certified] == [
        ("Linf", "0.01", "base"), ("Linf", "0.1", "base")]
    for c in row.certified:
        worst = row.worst(norm="Linf", eps=c.threat.eps)
        assert c.empirical == worst.accuracy and c.source_id == "certify/ibp" and "pgd" in c.empirical_source
        assert c.accuracy.correct <= c.empirical.correct and not c.violation  # the sandwich holds
        assert c.accuracy.correct == row.metric("certify/ibp", f"certified@{c.threat.eps_display}_k").value
    assert not any(f.startswith("certified-exceeds-empirical") for f in row.flags)
    frame = to_frame(res.rows)
    (cert,) = find_columns(frame, "certified", norm="Linf", eps=0.1)
    (emp,) = find_columns(frame, "empirical", norm="Linf", eps=0.1)
    assert frame[cert].iloc[0] == row.certified[1].accuracy.value and frame[emp].iloc[0] == row.worst(
        norm="Linf", eps=0.1).accuracy.value
    assert frame.attrs["counts"][row.row_id][emp] == (row.certified[1].empirical.correct, 60)


def test_a_certified_accuracy_above_the_empirical_one_is_flagged(tmp_path, kit):
    res = bench.run(_suite([{"id": "overclaim", "params": {"eps": 0.1}}]), workdir=tmp_path, plugins=kit)
    (row,) = res.rows
    base, smoothed, unattacked = row.certified
    worst = row.worst(norm="Linf", eps=0.1).accuracy
    assert worst.correct < 60  # PGD breaks some examples of a standard model at 0.1 ...
    assert base.empirical == worst and base.violation  # ... so "all 60 certified" is a contradiction
    assert smoothed.empirical.correct == 1 and smoothed.empirical_source == "planted" and smoothed.violation
    assert unattacked.empirical is None and not unattacked.violation  # nothing to compare with
    assert "certified-exceeds-empirical:overclaim Linf 0.1" in row.flags
    assert "certified-exceeds-empirical:overclaim L2 0.1 smoothed" in row.flags
    # the row invariant: the violation flag must agree with the numbers and be flagged
    data = row.model_dump()
    data["certified"][0]["violation"] = False
    with pytest.raises(LeaderboardError, match="violation is False but certified 60/60 exceeds"):
        validate_row(data)
    data = row.model_dump()
    data["flags"] = []
    with pytest.raises(LeaderboardError, match="must be flagged"):
        validate_row(data)


def test_the_shipped_suite_pairs_every_certificate_with_an_attack(kit):
    from bench.registry import get_registry
    from bench.runner.suite import resolve_suite
    from robarena_certify.probes.ibp import IBPConfig
    from robarena_certify.probes.smoothing import SmoothingConfig

    suite = resolve_suite("certify-digits", get_registry(kit))
    probes = {p.id: p.params for p in suite.probes}
    ibp, smoothing = IBPConfig(**probes["certify/ibp"]), SmoothingConfig(**probes["certify/smoothing"])
    linf = {float(e) for a in suite.attacks if a.norm == "Linf" for e in a.eps}
    l2 = {float(e) for a in suite.attacks if a.norm == "L2" for e in a.eps}
    assert {float(e) for e in ibp.eps} == linf  # every IBP eps has a worst case to compare with
    assert {r for r in smoothing.radii if r > 0} == l2 and smoothing.attack
    assert smoothing.n == 1000 and smoothing.n0 == 32 and suite.eval.n == 100  # the documented reduced settings
