"""The five probes through the runner on a tiny suite: columns in the rows, cross-checked with the runner's numbers."""
from __future__ import annotations

import math

import pytest

import bench


def tiny_p0_suite(model="classics/linear"):
    return {
        "name": "p0-tiny",
        "datasets": [{"id": "core/digits", "params": {"n_train": 300, "n_test": 60}}],
        "models": [{"id": model}],
        "defenses": [{"id": "classics/standard"}],
        "attacks": [{"id": "classics/pgd", "label": "PGD", "eps": 0.1,
                     "params": {"steps": 5, "step_size": 0.025}}],
        "probes": [{"id": "disentangle/cckl", "params": {"n_pairs": 500}},
                   {"id": "disentangle/input-fisher", "params": {"power_n": 8, "power_iters": 50}},
                   {"id": "disentangle/g1g2", "params": {"n_pairs": 500}},
                   {"id": "disentangle/fisher-approx", "params": {"eps": [0.025, 0.05, 0.1]}},
                   {"id": "disentangle/fisher-split"}],
        "train": {"epochs": 3, "batch_size": 32, "lr": 0.1},
        "eval": {"n": 60, "batch_size": 32},
    }


@pytest.mark.slow
@pytest.mark.parametrize("model", ["classics/linear", "classics/small-cnn"])
def test_probe_columns_reach_the_rows_and_agree_with_the_runner(tmp_path, model):
    result = bench.run(tiny_p0_suite(model), workdir=tmp_path)
    assert result.ok, result.failures
    (row,) = result.rows
    probes = row.probes
    for column in ("cckl.cckl", "input-fisher.fnorm_mean", "input-fisher.log_fnorm_mean",
                   "input-fisher.spectral_mean", "g1g2.g2_over_kl_mean", "fisher-approx.rel_error",
                   "fisher-approx.rel_error@0.025", "fisher-approx.rel_error@0.1", "fisher-split.n_robust"):
        assert probes[column] is not None and math.isfinite(probes[column]), column
    assert probes["g1g2.kl_mean"] == pytest.approx(probes["cckl.cckl"], rel=1e-9)  # same seed, same pairs
    assert probes["input-fisher.log_fnorm_mean"] == pytest.approx(math.log(probes["input-fisher.fnorm_mean"]))
    assert probes["input-fisher.spectral_mean"] <= probes["input-fisher.fnorm_mean"] * (1 + 1e-9)  # ||F||_2 <= ||F||_F
    assert probes["input-fisher.power_rel_error"] < 0.05
    # the split's own forward passes reproduce the runner's clean and robust accuracy
    n = 60
    assert probes["fisher-split.n_correct"] == round(row.clean_accuracy * n)
    assert probes["fisher-split.n_robust"] == round(row.robust["PGD Linf 0.1"] * n)
    frame = result.to_pandas()
    assert "probe[fisher-approx.rel_error@0.05]" in frame.columns
