"""Run every cell of a plan in this process, one trained model at a time.

A failing cell becomes an error record and the run continues; cells that depend on a
failed training are recorded as failed with the upstream error. Every record is written
atomically as soon as its cell ends, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import traceback
from typing import Callable, Optional

from bench.runner.context import RunContext
from bench.runner.keys import cell_key
from bench.runner.plan import Plan
from bench.runner.stages import (Cell, CleanCell, cell_id_of, fallback_meta, key_for, meta_for, refresh_labels,
                                 run_attack, run_clean, run_probe, run_task, run_train, stage_of)


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 2000 else text[:2000] + " ..."


def execute(plan: Plan, ctx: RunContext, on_record: Optional[Callable[[Cell, dict], None]] = None) -> list[dict]:
    """Run all cells; return their records in plan order."""
    records: list[dict] = []
    bar = None
    if ctx.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.n_cells, desc=f"suite {plan.suite.name}", unit="cell")

    def record(cell: Cell, rec: dict) -> None:
        records.append(rec)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(cell_id_of(cell)[-60:])
        if on_record is not None:  # a hook's exception propagates; the cell's record is already stored
            on_record(cell, rec)

    def failed(cell: Cell, exc: BaseException, upstream: bool = False) -> dict:
        msg = f"upstream training failed: {_error_text(exc)}" if upstream else _error_text(exc)
        if ctx.debug:
            traceback.print_exception(exc)
        try:
            key, meta = key_for(ctx, cell), meta_for(ctx, cell)
        except Exception:  # e.g. the dataset itself failed to load: no fingerprint to key on
            key = cell_key("failed", {"cell": cell_id_of(cell), "suite": plan.suite.name})
            meta = fallback_meta(ctx, cell)
        return ctx.store.put_cell(key, stage_of(cell), cell_id_of(cell), "error", {}, meta, error=msg)

    def attempt(cell: Cell, runner: Callable) -> dict:
        try:
            return refresh_labels(ctx, cell, runner(ctx, cell))
        except Exception as exc:  # the cell fails, the run goes on
            return failed(cell, exc)

    for train_cell in plan.train_cells:
        attacks, probes, tasks = plan.for_train(train_cell)
        clean = CleanCell(train_cell)
        try:
            _, rec = run_train(ctx, train_cell)
            rec = refresh_labels(ctx, train_cell, rec)
        except Exception as exc:
            record(train_cell, failed(train_cell, exc))
            for dependent in [clean, *attacks, *probes, *tasks]:
                record(dependent, failed(dependent, exc, upstream=True))
            continue
        record(train_cell, rec)
        runners = [(clean, run_clean)] + [(c, run_attack) for c in attacks] + [(c, run_probe) for c in probes] \
            + [(c, run_task) for c in tasks]
        for cell, runner in runners:
            record(cell, attempt(cell, runner))
        ctx.models.clear()  # free memory: one trained model at a time
    if bar is not None:
        bar.close()
    return records
