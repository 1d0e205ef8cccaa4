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
from bench.runner.stages import Cell, cell_id_of, fallback_meta, key_for, meta_for, run_attack, run_probe, run_task, run_train, stage_of


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
        if on_record is not None:
            on_record(cell, rec)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(cell_id_of(cell)[-60:])

    def fail(cell: Cell, exc: BaseException, upstream: bool = False) -> None:
        msg = f"upstream training failed: {_error_text(exc)}" if upstream else _error_text(exc)
        if ctx.debug:
            traceback.print_exception(exc)
        try:
            key, meta = key_for(ctx, cell), meta_for(ctx, cell)
        except Exception:  # e.g. the dataset itself failed to load: no fingerprint to key on
            key = cell_key("failed", {"cell": cell_id_of(cell), "suite": plan.suite.name})
            meta = fallback_meta(ctx, cell)
        rec = ctx.store.put_cell(key, stage_of(cell), cell_id_of(cell), "error", {}, meta, error=msg)
        record(cell, rec)

    for train_cell in plan.train_cells:
        attacks, probes, tasks = plan.for_train(train_cell)
        try:
            _, rec = run_train(ctx, train_cell)
            record(train_cell, rec)
        except Exception as exc:  # the cell fails, the run goes on
            fail(train_cell, exc)
            for dependent in [*attacks, *probes, *tasks]:
                fail(dependent, exc, upstream=True)
            continue
        runners = [(c, run_attack) for c in attacks] + [(c, run_probe) for c in probes] + [(c, run_task) for c in tasks]
        for cell, runner in runners:
            try:
                record(cell, runner(ctx, cell))
            except Exception as exc:
                fail(cell, exc)
        ctx.models.clear()  # free memory: one trained model at a time
    if bar is not None:
        bar.close()
    return records
