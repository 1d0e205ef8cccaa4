"""Out-of-memory retry: an evaluation cell that runs out of memory is re-run with half the batch.

The clean, attack and probe stages process the evaluation subset in batches of the suite's
``eval.batch_size``. When one raises ``torch.cuda.OutOfMemoryError`` (or any error whose
message says "out of memory", as CPU allocators and other backends word it), the cell is run
again with the batch halved, down to 1, before it is recorded as failed. The batch that
worked is stored in the record's ``meta["batch_size_used"]``; the cache key keeps the
suite's batch, so a re-run finds the cell.

Attack random starts are seeded per batch (:func:`bench.runner.stages.common.batch_seed`), so a
retried attack cell's random starts differ from a full-batch run's: its robust accuracy is
that of another draw, not a bit-identical result. Deterministic attacks are unaffected.

Training is never retried this way: its batch size is a hyper-parameter of the trained
model (part of the cell's key); lower ``[train] batch_size`` in the suite instead. Nor are
tasks, which choose their own batches.
"""
from __future__ import annotations

from typing import Callable

import torch

from bench.errors import RobarenaError
from bench.runner.context import RunContext


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower()


def run_with_oom_retry(ctx: RunContext, cell: object, runner: Callable[[RunContext, object], dict]) -> dict:
    """``runner(ctx, cell)``, re-run with ``ctx.batch_limit`` halved after each out-of-memory error."""
    limit = ctx.eval_batch
    try:
        while True:
            ctx.batch_limit = limit if limit < ctx.eval_batch else None
            try:
                return runner(ctx, cell)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                if limit == 1:
                    raise RobarenaError(f"out of memory even with evaluation batches of 1 (retried from "
                                        f"{ctx.eval_batch}, halving): {type(exc).__name__}: {exc}") from exc
                limit = max(1, limit // 2)
                if ctx.device.type == "cuda":
                    torch.cuda.empty_cache()
    finally:
        ctx.batch_limit = None
