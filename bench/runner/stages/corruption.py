"""The corruption stage: accuracy of a trained model under one common corruption at one severity
(Hendrycks & Dietterich 2019), by the runner's own forward pass.

The evaluation subset is corrupted in chunks of ``eval.batch_size`` examples; chunk ``b`` draws
from a CPU ``torch.Generator`` seeded by :func:`corruption_seed` of (row seed, corruption id,
severity, b), so the corrupted images depend on nothing else (not on the device, the order of
the cells, an out-of-memory retry's smaller forward batches or the entry's label). Accuracy counts
every evaluation example, not only the clean-correct ones, as the corruption track does. Stored:
per-example ``correct`` (uint8) and ``predictions`` (int64); payload ``accuracy``, ``seconds``.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Optional

import torch

from bench.runner.context import RunContext
from bench.runner.plan import Component, CorruptionCell
from bench.runner.stages import common
from bench.runner.stages.base import Stage


def corruption_seed(seed: int, corruption_id: str, severity: int, batch: int) -> int:
    """The generator seed of chunk ``batch``: 63 bits of sha256 over (seed, corruption id, severity, batch)."""
    text = f"{int(seed)}|{corruption_id}|{int(severity)}|{int(batch)}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def corrupted_subset(ctx: RunContext, cell: CorruptionCell) -> torch.Tensor:
    """The cell's corrupted evaluation subset (N, C, H, W) on CPU (see the module docstring)."""
    x, _ = common.eval_subset(ctx, cell.train)
    impl = cell.corruption.entry.load()
    corruption = impl(impl.Config(**cell.corruption.kwargs))
    chunks = []
    for b, start in enumerate(range(0, x.shape[0], ctx.eval_batch)):
        gen = torch.Generator().manual_seed(corruption_seed(cell.train.seed, cell.corruption.qid, cell.severity, b))
        chunks.append(corruption(x[start:start + ctx.eval_batch], cell.severity, gen).cpu())
    return torch.cat(chunks) if chunks else x.clone()


class CorruptionStage(Stage[CorruptionCell]):
    name = "corruption"

    def parts(self, ctx: RunContext, cell: CorruptionCell) -> dict[str, Any]:
        from bench.runner.stages.train import TRAIN

        return {"train": TRAIN.key(ctx, cell.train), "corruption": cell.corruption.describe(),
                "severity": cell.severity, "n": ctx.eval_n, "batch": ctx.eval_batch}

    def components(self, cell: CorruptionCell) -> list[Optional[Component]]:
        return [cell.corruption]

    def fallback_labels(self, cell: CorruptionCell) -> dict[str, Any]:
        return {"corruption": cell.corruption.label, "corruption_id": cell.corruption.qid,
                "corruption_params": cell.corruption.kwargs, "corruption_family": cell.corruption.entry.spec.family,
                "severity": cell.severity, "column": cell.column, "corruption_baseline": cell.baseline}

    def labels(self, ctx: RunContext, cell: CorruptionCell) -> dict[str, Any]:
        return self.fallback_labels(cell)

    def compute(self, ctx: RunContext, cell: CorruptionCell) -> dict[str, Any]:
        from bench.runner.stages.train import load_model

        model, _ = load_model(ctx, cell.train)
        _, y = common.eval_subset(ctx, cell.train)
        start = time.perf_counter()
        x = corrupted_subset(ctx, cell)
        pred = common.predict(model, x, ctx.work_batch, ctx.device)
        correct = pred == y
        n = max(1, int(correct.shape[0]))
        arrays = {"correct": correct.to(torch.uint8), "predictions": pred.to(torch.int64)}
        return {"accuracy": int(correct.sum()) / n, "seconds": round(time.perf_counter() - start, 3),
                "arrays": ctx.cache.put_tensors(arrays)}


CORRUPTION = CorruptionStage()
