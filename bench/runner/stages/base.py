"""The stage contract and the one cached-execution wrapper around every stage.

A :class:`Stage` owns, for one kind of cell, what its result depends on (:meth:`Stage.parts`,
hashed into the cache key), how to compute it (:meth:`Stage.compute`, returning the payload)
and what is stored beside it (:meth:`Stage.components` and :meth:`Stage.labels`, the
provenance and display labels). :func:`run_cached` is the only place that looks a cell up,
verifies its artifacts, computes it on a miss and stores the record; executors only decide
which cells run where and when.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Optional, TypeVar

from bench.runner.context import RunContext, base_meta
from bench.runner.keys import cell_key
from bench.runner.plan import Component, TrainCell
from bench.store.results import artifact_digests

C = TypeVar("C")


class Stage(ABC, Generic[C]):
    """One kind of cell, named ``name`` ('train', 'clean', 'attack', 'probe', 'task', 'corruption')."""

    name: ClassVar[str]

    # ------------------------------------------------------------------ identity
    @abstractmethod
    def parts(self, ctx: RunContext, cell: C) -> dict[str, Any]:
        """Everything the cell's result depends on (canonical JSON, hashed into the key)."""

    def key(self, ctx: RunContext, cell: C) -> str:
        """The cell's cache key, computed once per cell and run (``ctx.keys``)."""
        return self._identity(ctx, cell)[1]

    def key_parts(self, ctx: RunContext, cell: C) -> dict[str, Any]:
        """The parts the key was computed from (stored with the record; ``run --explain`` compares them)."""
        return self._identity(ctx, cell)[2]

    def _identity(self, ctx: RunContext, cell: C) -> tuple[Any, str, dict[str, Any]]:
        memo = ctx.keys.get(id(cell))
        if memo is None or memo[0] is not cell:
            parts = self.parts(ctx, cell)
            memo = (cell, cell_key(self.name, parts), parts)  # the cell is kept, so its id stays unique
            ctx.keys[id(cell)] = memo
        return memo

    def train_cell(self, cell: C) -> TrainCell:
        """The training cell whose model this cell evaluates (the training stage: the cell itself)."""
        return cell.train  # type: ignore[attr-defined]

    def cell_id(self, cell: C) -> str:
        """The cell's readable id (``<row_id> :: <column>``)."""
        return cell.cell_id  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ computation
    @abstractmethod
    def compute(self, ctx: RunContext, cell: C) -> dict[str, Any]:
        """Compute the cell and return its payload (artifacts already put in ``ctx.cache``)."""

    # ------------------------------------------------------------------ provenance and labels
    def components(self, cell: C) -> list[Optional[Component]]:
        """The components beyond the row's own whose versions the record carries."""
        return []

    def labels(self, ctx: RunContext, cell: C) -> dict[str, Any]:
        """Stage-specific labels and settings stored in the record's metadata."""
        return {}

    def meta(self, ctx: RunContext, cell: C) -> dict[str, Any]:
        """Provenance and labels stored with the cell's record (ok or failed alike)."""
        from bench.runner.stages.common import row_labels

        train = self.train_cell(cell)
        data = ctx.dataset(train.dataset)
        extra = row_labels(train)
        extra.update(self.labels(ctx, cell))
        if ctx.work_batch != ctx.eval_batch:  # an out-of-memory retry: random starts follow the smaller batches
            extra["batch_size_used"] = ctx.work_batch
        comps = [train.dataset, train.model, train.defense, *self.components(cell)]
        meta = base_meta(ctx, train.row_id, self.name, comps, data, train.seed, min(ctx.eval_n, len(data.y_test)),
                         extra)
        for dep in extra.get("dependencies", {}).values():  # a task's dependencies join the row's versions
            for comp in dep["components"].values():
                meta["specs"][comp["id"]] = comp["version"]
                meta["plugins"][comp["dist"]] = comp["dist_version"]
        meta["key_parts"] = self.key_parts(ctx, cell)
        return meta

    def fallback_labels(self, cell: C) -> dict[str, Any]:
        """Labels for a cell whose inputs could not even be loaded (no dataset, so no :meth:`labels`)."""
        return {}


def lookup(ctx: RunContext, stage: Stage, key: str) -> Optional[dict]:
    """The stored ok record for ``key`` if its checksum and all its artifacts verify; else None (recompute)."""
    rec = ctx.store.get_cell(key, on_mismatch="missing")  # a tampered record is recomputed, with a warning
    if rec is None or rec["status"] != "ok":
        return None
    for _field, digest in artifact_digests(rec["payload"]):  # every artifact the record refers to
        if not ctx.cache.has(digest):
            ctx.cache.discard(digest)
            return None
    return rec


def run_cached(ctx: RunContext, stage: Stage[C], cell: C) -> dict:
    """Lookup, compute on a miss, store: the cell's ok record (a hit computes nothing)."""
    key = stage.key(ctx, cell)
    rec = lookup(ctx, stage, key)
    if rec is not None:
        return rec
    payload = stage.compute(ctx, cell)
    rec = ctx.store.put_cell(key, stage.name, stage.cell_id(cell), "ok", payload, stage.meta(ctx, cell))
    ctx.computed.append(key)
    return rec
