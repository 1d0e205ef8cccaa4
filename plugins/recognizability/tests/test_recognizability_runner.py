"""The Jacobian probe and the recognizability task through the runner, on a tiny suite."""
from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

import bench
from bench.runner.results import load_rows
from bench.store.cache import ArtifactCache
from robarena_recognizability.claims import STANDARD, profile_columns, profile_mean, rows_of
from robarena_recognizability.tasks import judge as judge_module


def tiny_p3_suite() -> dict:
    return {
        "name": "tiny-p3",
        "datasets": [{"id": "core/digits", "params": {"n_train": 200, "n_test": 40}}],
        "models": [{"id": "classics/linear"}],
        "defenses": [{"id": "classics/standard"},
                     {"id": "recognizability/gradient-penalty", "label": "gp", "params": {"beta": 1.0, "eps": 0.1}}],
        "attacks": [{"id": "classics/pgd", "label": "profile", "norm": "Linf", "eps": [0.05, 0.1],
                     "params": {"steps": 5, "step_size": 0.03, "restarts": 2}}],
        "probes": [{"id": "recognizability/jacobian", "params": {"power_iters": 5}}],
        "tasks": [{"id": "recognizability/recognizability",
                   "params": {"steps": 8, "starts": 2, "judge_model": "classics/linear",
                              "judge_train": {"epochs": 2, "batch_size": 50, "lr": 0.1}}}],
        "train": {"epochs": 2, "batch_size": 50, "lr": 0.1},
        "eval": {"n": 40, "batch_size": 40},
    }


def test_tiny_suite_runs_the_probe_and_the_task(tmp_path):
    judge_module.clear_cache()
    res = bench.run(tiny_p3_suite(), workdir=tmp_path, device="cpu")
    assert res.ok, res.failures
    frame = res.to_pandas()
    assert sorted(frame["defense"]) == ["gp", "standard"]
    for col in ("probe[jacobian.jacobian_fro]", "probe[jacobian.fisher_jacobian_fro]", "probe[jacobian.lipschitz_local]",
                "task[recognizability.judge_target_rate]", "task[recognizability.target_success]",
                "task[recognizability.judge_clean_accuracy]"):
        assert frame[col].notna().all(), col
    # one judge for both rows: the same judge accuracy
    assert frame["task[recognizability.judge_clean_accuracy]"].nunique() == 1
    assert [eps for eps, _ in profile_columns(frame)] == [0.05, 0.1]
    assert 0 <= profile_mean(rows_of(frame, STANDARD)) <= 1
    cache = ArtifactCache(tmp_path / "cache")
    grids, starts = [], []
    for row in load_rows(tmp_path, "tiny-p3"):
        grid = Image.open(BytesIO(cache.get_bytes(row.artifacts["recognizability.grid"])))
        assert grid.size == (10 * (8 + 2) + 2, 2 * (8 + 2) + 2)  # 10 target columns, 2 start rows
        starts.append(cache.get_bytes(row.artifacts["recognizability.starts"]))
        grids.append(np.asarray(grid))
    assert starts[0] == starts[1]  # shared noise starts for both models (same seed)
    assert not np.array_equal(grids[0], grids[1])  # different models, different perturbations
    # a second run computes nothing
    again = bench.run(tiny_p3_suite(), workdir=tmp_path, device="cpu")
    assert again.ok and again.computed == 0
    judge_module.clear_cache()
