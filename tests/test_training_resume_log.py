"""A training interrupted after some epochs and resumed keeps the log of every epoch.

The interruption is real: the runner's own epoch saver writes the partial checkpoint of epoch
k and the training then raises (as a crash would after that save); the next run of the same
suite resumes from that checkpoint. The training record's log must equal the uninterrupted
run's, epoch for epoch (the resumed epochs are bit-for-bit those of the uninterrupted run).
"""
from __future__ import annotations

import pytest
import torch

import bench
from bench.runner import stages
from bench.store.results import ResultsStore

EPOCHS = 5


class Interrupted(RuntimeError):
    """Raised right after the partial checkpoint of the chosen epoch was written."""


def suite(defense: dict) -> dict:
    return {"name": "resume-log", "integrity": False,
            "datasets": [{"id": "core/digits", "params": {"n_train": 160, "n_test": 20}}],
            "models": [{"id": "classics/linear"}], "defenses": [defense],
            "train": {"epochs": EPOCHS, "batch_size": 32, "lr": 0.1}, "eval": {"n": 20, "batch_size": 20}}


def train_record(workdir) -> dict:
    store = ResultsStore(workdir / "results.sqlite")
    try:
        run = store.latest_run("resume-log")
        (rec,) = [r for r in map(store.get_cell, run["cell_keys"]) if r["stage"] == "train"]
        return rec
    finally:
        store.close()


def run_interrupted_after(monkeypatch, workdir, suite_dict: dict, epoch: int) -> dict:
    """Run ``suite_dict``, crashing right after the checkpoint of ``epoch``; return that checkpoint."""
    real_saver = stages.partials.epoch_saver

    def saver(path):
        save = real_saver(path)

        def save_then_crash(done: int, state: dict) -> None:
            save(done, state)
            if done == epoch:
                raise Interrupted(f"interrupted after epoch {done}")
        return save_then_crash

    with monkeypatch.context() as patch:
        patch.setattr(stages.partials, "epoch_saver", saver)
        res = bench.run(suite_dict, workdir=workdir, device="cpu")
    assert not res.ok and "interrupted after epoch" in res.failures[0].error
    (partial,) = (workdir / "partial").glob("*.pt")
    return torch.load(partial, weights_only=True)


def uninterrupted_and_resumed(monkeypatch, tmp_path, defense: dict, epoch: int) -> tuple[dict, dict, dict]:
    """(uninterrupted training record, partial checkpoint at ``epoch``, resumed training record)."""
    reference = bench.run(suite(defense), workdir=tmp_path / "reference", device="cpu")
    assert reference.ok, reference.failures
    checkpoint = run_interrupted_after(monkeypatch, tmp_path / "wd", suite(defense), epoch)
    resumed = bench.run(suite(defense), workdir=tmp_path / "wd", device="cpu")
    assert resumed.ok, resumed.failures
    assert resumed.computed == 2  # the training (resumed, not taken from a cache) and its clean cell
    assert not list((tmp_path / "wd" / "partial").glob("*.pt"))
    return train_record(tmp_path / "reference"), checkpoint, train_record(tmp_path / "wd")


@pytest.mark.parametrize("epoch", [1, 3])
def test_resumed_standard_training_logs_every_epoch(monkeypatch, tmp_path, epoch):
    full, checkpoint, resumed = uninterrupted_and_resumed(monkeypatch, tmp_path, {"id": "classics/standard"}, epoch)
    losses = full["payload"]["log"]["train_loss"]
    assert len(losses) == EPOCHS
    # the checkpoint carries the log so far, the resumed record the whole log
    assert checkpoint["epoch"] == epoch and checkpoint["log"]["train_loss"] == losses[:epoch]
    assert resumed["payload"]["log"] == full["payload"]["log"]
    assert resumed["payload"]["checkpoint"] == full["payload"]["checkpoint"]  # the same weights, bit for bit


def test_resumed_spectral_clip_logs_every_epochs_norms(monkeypatch, tmp_path):
    defense = {"id": "margins/spectral-clip", "params": {"base": "standard", "bound": 0.5}}
    full, checkpoint, resumed = uninterrupted_and_resumed(monkeypatch, tmp_path, defense, 2)
    norms = full["payload"]["log"]["spectral_norms"]
    assert norms and all(len(values) == EPOCHS for values in norms.values())
    assert {k: v[:2] for k, v in norms.items()} == checkpoint["log"]["spectral_norms"]
    assert resumed["payload"]["log"] == full["payload"]["log"]


FAST_AT = {"id": "classics/fast-at", "params": {"eps": 0.3, "check_drop": 1e-6, "check_steps": 2,
                                                 "check_step_size": 0.15}}


def test_fast_at_check_is_rebuilt_from_the_log_on_resume(monkeypatch, tmp_path):
    """A collapse after the interruption is still caught: the reference accuracy comes from the log."""
    reference = bench.run(suite(FAST_AT), workdir=tmp_path / "probe", device="cpu")
    log = train_record(tmp_path / "probe")["payload"]["log"]
    stopped = log["stopped_epoch"]
    assert stopped is not None and stopped >= 1, log  # this configuration collapses after its first epoch
    assert reference.ok
    # interrupt before the collapse (epoch index `stopped` is the (stopped+1)-th epoch)
    full, checkpoint, resumed = uninterrupted_and_resumed(monkeypatch, tmp_path, FAST_AT, stopped)
    assert checkpoint["log"]["stopped_epoch"] is None
    assert resumed["payload"]["log"] == full["payload"]["log"]
    assert resumed["payload"]["log"]["stopped_epoch"] == stopped
    assert resumed["payload"]["checkpoint"] == full["payload"]["checkpoint"]
