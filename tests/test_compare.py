"""Paired comparisons: exact McNemar on stored per-example outcomes, paired t over seeds, refusals."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, ttest_rel

import bench
from bench.cli.main import main
from bench.errors import UsageError
from bench.runner.compare import compare_rows, compare_seeds
from runner_helpers import tiny_suite


@pytest.fixture
def two_defenses(tmp_path, testkit):
    suite = tiny_suite(seeds=[0, 1, 2], train={"epochs": 1, "batch_size": 32, "lr": 0.1},
                       attacks=[{"id": "sign", "eps": 0.1}, {"id": "noise", "eps": 0.1}])
    suite["defenses"] = [{"id": "erm"}, {"id": "erm", "label": "erm-slow", "train": {"lr": 0.01}}]
    res = bench.run(suite, workdir=tmp_path, plugins=testkit, device="cpu")
    assert res.ok, res.failures
    return tmp_path, res


def _masks(workdir, row_id):
    """Per-example outcomes read back independently from the store and cache."""
    from bench.runner.results import load_run_records
    from bench.store.cache import ArtifactCache

    records, _ = load_run_records(workdir, "tiny")
    cache = ArtifactCache(workdir / "cache")
    out = {}
    for r in records:
        if r["meta"]["row_id"] == row_id and r["stage"] == "clean":
            out["clean"] = cache.get_arrays(r["payload"]["arrays"])["clean_correct"].astype(bool)
        if r["meta"]["row_id"] == row_id and r["stage"] == "attack":
            out[r["meta"]["column"]] = cache.get_arrays(r["payload"]["arrays"])["robust_correct"].astype(bool)
    return out


def test_mcnemar_on_the_rows_own_examples(two_defenses):
    workdir, _ = two_defenses
    a, b = "digits/tiny-linear/erm/seed0", "digits/tiny-linear/erm-slow/seed0"
    results = {c.metric: c for c in compare_rows(workdir, "tiny", a, b)}
    ma, mb = _masks(workdir, a), _masks(workdir, b)
    assert set(results) == {"clean", "robust[sign Linf 0.1]", "robust[noise Linf 0.1]", "ensemble[Linf 0.1]"}
    for metric, cmp in results.items():
        if metric.startswith("ensemble"):
            xa = ma["sign Linf 0.1"] & ma["noise Linf 0.1"]
            xb = mb["sign Linf 0.1"] & mb["noise Linf 0.1"]
        else:
            key = "clean" if metric == "clean" else metric[len("robust["):-1]
            xa, xb = ma[key], mb[key]
        only_a, only_b = int((xa & ~xb).sum()), int((~xa & xb).sum())
        expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
        assert cmp.p_value == pytest.approx(expected)
        assert cmp.difference == pytest.approx(xa.mean() - xb.mean())
        assert cmp.significant == (expected <= 0.05)


def test_a_row_against_itself_is_within_noise(two_defenses):
    workdir, _ = two_defenses
    row = "digits/tiny-linear/erm/seed1"
    for cmp in compare_rows(workdir, "tiny", row, row):
        assert cmp.p_value == 1.0 and cmp.difference == 0 and cmp.verdict == "within noise"


def test_seeds_are_paired_by_seed(two_defenses):
    workdir, res = two_defenses
    results = {c.metric: c for c in compare_seeds(workdir, "tiny", "digits/tiny-linear/erm",
                                                   "digits/tiny-linear/erm-slow")}
    by = {(r.defense, r.seed): r for r in res.rows}
    xs = [by[("erm", s)].clean_accuracy for s in (0, 1, 2)]
    ys = [by[("erm-slow", s)].clean_accuracy for s in (0, 1, 2)]
    assert results["clean"].p_value == pytest.approx(ttest_rel(xs, ys).pvalue)
    assert results["clean"].difference == pytest.approx(np.mean(xs) - np.mean(ys))


def test_unknown_rows_and_other_examples_are_refused(two_defenses, tmp_path, testkit, capsys):
    workdir, _ = two_defenses
    with pytest.raises(UsageError, match="has no row 'nope'"):
        compare_rows(workdir, "tiny", "nope", "digits/tiny-linear/erm/seed0")
    code = main(["-p", "robarena_testkit", "compare", "tiny", "x", "y", "--workdir", str(workdir)])
    assert code == 2 and "has no row 'x'" in capsys.readouterr().err
    other = tiny_suite()
    other["datasets"] = [{"id": "core/digits", "params": {"n_train": 300, "n_test": 60}},
                         {"id": "core/digits", "label": "digits-b", "params": {"n_train": 300, "n_test": 50}}]
    res = bench.run(other, workdir=tmp_path / "w2", plugins=testkit, device="cpu")
    assert res.ok
    with pytest.raises(UsageError, match="not evaluated on the same examples"):
        compare_rows(tmp_path / "w2", "tiny", "digits/tiny-linear/erm/seed0", "digits-b/tiny-linear/erm/seed0")
