"""Run every cell of a plan in this process, one trained model at a time.

A failing cell becomes an error record and the run continues; cells that depend on a
failed training are recorded as failed with the upstream error. Every record is written
atomically as soon as its cell ends, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import traceback
from typing import Callable, Optional, Union

from bench.progress import CellProgress
from bench.runner.context import RunContext
from bench.runner.keys import cell_key
from bench.runner.plan import CleanCell, Plan, TaskCell
from bench.runner.retry import run_with_oom_retry
from bench.runner.stages import (Cell, cell_id_of, fallback_meta, key_for, load_model, meta_for, refresh_labels,
                                 run_cell, stage_of)


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 2000 else text[:2000] + " ..."


def failed_record(ctx: RunContext, cell: Cell, exc: Union[BaseException, str], upstream: bool = False,
                  suite_name: str = "") -> dict:
    """Store (through ``ctx.store``) and return the error record of a failed cell.

    ``exc``: the exception, or the error text of an already recorded failure (the upstream training's).
    """
    text = exc if isinstance(exc, str) else _error_text(exc)
    msg = f"upstream training failed: {text}" if upstream else text
    if ctx.debug and isinstance(exc, BaseException):
        traceback.print_exception(exc)
    try:
        key, meta = key_for(ctx, cell), meta_for(ctx, cell)
    except Exception:  # e.g. the dataset itself failed to load: no fingerprint to key on
        key = cell_key("failed", {"cell": cell_id_of(cell), "suite": suite_name})
        meta = fallback_meta(ctx, cell)
    return ctx.store.put_cell(key, stage_of(cell), cell_id_of(cell), "error", {}, meta, error=msg)


def evaluate_cell(ctx: RunContext, cell: Cell, suite_name: str = "") -> dict:
    """Run one evaluation cell (clean, attack, probe, task); a failure becomes its error record.

    Clean, attack and probe cells get the out-of-memory retry with halved evaluation batches
    (tasks choose their own batches)."""
    try:
        if isinstance(cell, TaskCell):
            return run_cell(ctx, cell)
        return run_with_oom_retry(ctx, cell, run_cell)
    except Exception as exc:  # the cell fails, the run goes on
        return failed_record(ctx, cell, exc, suite_name=suite_name)


def execute(plan: Plan, ctx: RunContext, on_record: Optional[Callable[[Cell, dict], None]] = None) -> list[dict]:
    """Run all cells; return their records in plan order."""
    records: list[dict] = []
    progress = CellProgress(plan.n_cells, f"suite {plan.suite.name}", enabled=ctx.progress)

    def record(cell: Cell, rec: dict) -> None:
        records.append(rec)
        status = "FAILED" if rec["status"] != "ok" else "ok" if rec["key"] in ctx.computed else "cached"
        progress.finish(rec.get("cell_id") or cell_id_of(cell), status)
        if on_record is not None:  # a hook's exception propagates; the cell's record is already stored
            on_record(cell, rec)

    def failed(cell: Cell, exc: BaseException, upstream: bool = False) -> dict:
        return failed_record(ctx, cell, exc, upstream, plan.suite.name)

    for train_cell in plan.train_cells:
        attacks, probes, tasks = plan.for_train(train_cell)
        tasks = [*tasks, *plan.corruptions_for(train_cell)]  # corruption cells run last
        clean = CleanCell(train_cell)
        progress.start(cell_id_of(train_cell))
        try:
            _, rec = load_model(ctx, train_cell)
            rec = refresh_labels(ctx, train_cell, rec)
        except Exception as exc:
            record(train_cell, failed(train_cell, exc))
            for dependent in [clean, *attacks, *probes, *tasks]:
                record(dependent, failed(dependent, exc, upstream=True))
            continue
        record(train_cell, rec)
        for cell in [clean, *attacks, *probes, *tasks]:
            progress.start(cell_id_of(cell))  # the bar names the cell that is running
            rec = evaluate_cell(ctx, cell, plan.suite.name)
            record(cell, refresh_labels(ctx, cell, rec))
        ctx.models.clear()  # free memory: one trained model at a time
    progress.close()
    return records
