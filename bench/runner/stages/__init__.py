"""Typed stages: one :class:`~bench.runner.stages.base.Stage` per cell kind and one cached-execution
wrapper (:func:`~bench.runner.stages.base.run_cached`). Executors use only what is exported here.

=========  ==================  ==========================================================
cell       stage               result
=========  ==================  ==========================================================
TrainCell  ``train.TRAIN``     checkpoint digest, training log (model kept for the row), kept epoch weights
CleanCell  ``clean.CLEAN``     clean accuracy, per-example correctness
AttackCell ``attack.ATTACK``   robust accuracy (runner's forward pass), x_adv, predictions
ProbeCell  ``probe.PROBE``     probe scalars, flags, arrays (final model, or weights after an epoch)
TaskCell   ``task.TASK``       task metrics, artifacts
CorruptionCell ``corruption.CORRUPTION`` accuracy under one corruption and severity, correctness
=========  ==================  ==========================================================
"""
from __future__ import annotations

from typing import Any, Optional, Union

from bench.runner.context import RunContext
from bench.runner.plan import AttackCell, CleanCell, CorruptionCell, ProbeCell, TaskCell, TrainCell
from bench.runner.stages.attack import ATTACK
from bench.runner.stages.base import Stage, lookup as _lookup, run_cached
from bench.runner.stages.clean import CleanStage
from bench.runner.stages.corruption import CORRUPTION
from bench.runner.stages.probe import PROBE
from bench.runner.stages.task import TASK
from bench.runner.stages.train import TRAIN, load_model
from bench.runner.stages.common import row_labels

Cell = Union[TrainCell, CleanCell, AttackCell, ProbeCell, TaskCell, CorruptionCell]
CLEAN = CleanStage()
STAGES: dict[type, Stage] = {TrainCell: TRAIN, CleanCell: CLEAN, AttackCell: ATTACK, ProbeCell: PROBE, TaskCell: TASK,
                         CorruptionCell: CORRUPTION}
#: metadata fields that are display labels or descriptions, refreshed on cached records and kept per run
LABEL_FIELDS = ("row_id", "dataset", "model", "defense", "dataset_id", "model_id", "defense_id", "dataset_params",
                "model_params", "defense_params", "column", "attack", "attack_id", "probe", "probe_id", "probe_params",
                "task", "task_id", "task_params", "threat", "threat_eps_display", "threat_targeted",
                "needs_gradients", "attack_params", "corruption", "corruption_id", "corruption_params",
                "corruption_family", "corruption_baseline", "published")

__all__ = ["Cell", "STAGES", "LABEL_FIELDS", "stage_for", "key_for", "meta_for", "fallback_meta", "lookup", "run_cell",
           "load_model", "refresh_labels", "cell_id_of", "stage_of"]


def stage_for(cell: Cell) -> Stage:
    return STAGES[type(cell)]


def key_for(ctx: RunContext, cell: Cell) -> str:
    return stage_for(cell).key(ctx, cell)


def meta_for(ctx: RunContext, cell: Cell) -> dict:
    return stage_for(cell).meta(ctx, cell)


def stage_of(cell: Cell) -> str:
    return stage_for(cell).name


def cell_id_of(cell: Cell) -> str:
    return stage_for(cell).cell_id(cell)


def lookup(ctx: RunContext, cell: Cell) -> Optional[dict]:
    """The cell's stored ok record if its artifacts verify, without computing anything (else None)."""
    stage = stage_for(cell)
    return _lookup(ctx, stage, stage.key(ctx, cell))


def run_cell(ctx: RunContext, cell: Cell) -> dict:
    """The cell's record: cached, or computed and stored (a training cell also keeps its model)."""
    if isinstance(cell, TrainCell):
        return load_model(ctx, cell)[1]
    return run_cached(ctx, stage_for(cell), cell)


def refresh_labels(ctx: RunContext, cell: Cell, rec: dict) -> dict:
    """Labels are not part of a cache key: give a cached record this suite's labels (stored too)."""
    if rec["status"] != "ok":
        return rec
    current = meta_for(ctx, cell)
    stale = {k: current[k] for k in LABEL_FIELDS if k in current and rec["meta"].get(k) != current[k]}
    if not stale:
        return rec
    rec = {**rec, "meta": {**rec["meta"], **stale}, "cell_id": cell_id_of(cell)}
    ctx.store.update_labels(rec["key"], rec["cell_id"], rec["meta"])
    return rec


def fallback_meta(ctx: RunContext, cell: Cell) -> dict[str, Any]:
    """Metadata for a cell whose inputs could not even be loaded (no data fingerprint)."""
    stage = stage_for(cell)
    train = stage.train_cell(cell)
    return {"row_id": train.row_id, "stage": stage.name, "seed": train.seed, "n": 0, "fingerprint": "unavailable",
            "specs": {}, "plugins": {}, **ctx.environment(), **row_labels(train), **stage.fallback_labels(cell)}
