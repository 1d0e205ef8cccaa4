"""The transfer task declares the columns of its configured targets, and the runner holds it to them."""
from __future__ import annotations

import pytest

import bench
from bench.api.task import declared_columns
from bench.registry import get_registry
from robarena_infotransfer.tasks.transfer import Transfer, TransferConfig, default_targets, target_columns

SPEC = get_registry().get("task", "infotransfer/transfer").spec
MNISTLIKE = {"id": "core/digits", "params": {"n_train": 120, "n_test": 40}, "label": "mnistlike"}


def suite(targets: list[dict]) -> dict:
    return {"name": "transfer-columns", "integrity": False,
            "datasets": [{"id": "core/digits", "params": {"n_train": 120, "n_test": 30}}],
            "models": [{"id": "classics/small-cnn"}], "defenses": [{"id": "classics/standard"}],
            "tasks": [{"id": "infotransfer/transfer", "params": {
                "targets": targets, "robust_n": 8, "attack_steps": 2, "distance_n": 20, "max_iter": 100}}],
            "train": {"epochs": 1, "batch_size": 40}, "eval": {"n": 16, "batch_size": 16}}


def test_columns_follow_the_configured_targets():
    task = Transfer(TransferConfig(targets=[MNISTLIKE, {"id": "core/digits32"}]))
    assert declared_columns(task, SPEC.columns) == [
        "mnistlike.accuracy", "mnistlike.distance", "mnistlike.robust_accuracy", "mnistlike.class_emd",
        "digits32.accuracy", "digits32.distance", "digits32.robust_accuracy", "digits32.class_emd"]  # unlabelled: the dataset's name


def test_the_spec_declares_the_default_targets_columns():
    assert SPEC.columns == target_columns(default_targets()) == declared_columns(Transfer(), SPEC.columns)
    assert SPEC.columns[:3] == ["near.accuracy", "near.distance", "near.robust_accuracy"]


def test_a_run_with_other_targets_has_exactly_the_declared_columns(tmp_path):
    res = bench.run(suite([MNISTLIKE]), workdir=tmp_path, device="cpu")
    assert res.ok, res.failures
    (row,) = res.rows
    declared = declared_columns(Transfer(TransferConfig(targets=[MNISTLIKE])), SPEC.columns)
    assert sorted(row.tasks) == sorted(f"transfer.{c}" for c in declared)
    assert all(row.tasks[f"transfer.{c}"] is not None for c in declared)
    assert not any(c.startswith(("transfer.near.", "transfer.far.")) for c in row.tasks)


def test_the_runner_fails_a_task_that_misses_a_declared_column(tmp_path, monkeypatch):
    monkeypatch.setattr(Transfer, "columns", lambda self: target_columns(self.config.targets) + ["mnistlike.extra"])
    res = bench.run(suite([MNISTLIKE]), workdir=tmp_path, device="cpu")
    (failure,) = res.failures
    assert failure.stage == "task"
    assert "infotransfer/transfer did not return its declared columns ['mnistlike.extra']" in failure.error


@pytest.mark.parametrize("label", ["a/b", "a b", "x[1]"])
def test_labels_that_cannot_name_a_column_are_refused(label):
    with pytest.raises(ValueError, match="label"):
        TransferConfig(targets=[{"id": "core/digits", "label": label}])
