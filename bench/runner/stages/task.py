"""The task stage: a per-model task (transfer, inversion, recognizability, ...) and its declared
dependencies, which join the cache key and the row's provenance."""
from __future__ import annotations

import time
from typing import Any, Optional

from bench.api.data import DatasetSplits
from bench.api.task import TaskInput, declared_columns
from bench.errors import RobarenaError
from bench.runner.context import RunContext
from bench.runner.fingerprint import code_fingerprint
from bench.runner.plan import Component, TaskCell
from bench.runner.stages.base import Stage


def task_dependencies(ctx: RunContext, cell: TaskCell) -> dict[str, Any]:
    """The configured task's :meth:`~bench.api.task.Task.dependencies`, its components with their versions."""
    impl = cell.task.entry.load()
    out: dict[str, Any] = {}
    for dep in impl(config=impl.Config(**cell.task.kwargs), seed=cell.train.seed).dependencies():
        comps = {}
        for role, (kind, ident) in sorted(dep.components.items()):
            entry = ctx.registry.get(kind, ident)
            comps[role] = {"id": entry.qualified_id, "version": entry.version, "dist": entry.plugin.distribution,
                           "dist_version": entry.plugin.version, "code": code_fingerprint(entry.spec.target)}
        out[dep.name] = {"components": comps, "settings": dep.settings}
    return out


class TaskStage(Stage[TaskCell]):
    name = "task"


    def parts(self, ctx: RunContext, cell: TaskCell) -> dict[str, Any]:
        from bench.runner.stages.train import TRAIN

        parts: dict[str, Any] = {"train": TRAIN.key(ctx, cell.train), "task": cell.task.describe()}
        deps = task_dependencies(ctx, cell)
        if deps:  # only then: tasks without dependencies keep their keys
            parts["dependencies"] = deps
        return parts

    def components(self, cell: TaskCell) -> list[Optional[Component]]:
        return [cell.task]

    def fallback_labels(self, cell: TaskCell) -> dict[str, Any]:
        return {"task": cell.task.label, "task_id": cell.task.qid, "task_params": cell.task.kwargs}

    def labels(self, ctx: RunContext, cell: TaskCell) -> dict[str, Any]:
        labels = self.fallback_labels(cell)
        deps = self.key_parts(ctx, cell).get("dependencies")  # derived once, with the key
        if deps:
            labels["dependencies"] = deps
        return labels

    def compute(self, ctx: RunContext, cell: TaskCell) -> dict[str, Any]:
        from bench.runner.plan import Component, validate_params
        from bench.runner.stages.train import load_model

        model, _ = load_model(ctx, cell.train)
        data = ctx.dataset(cell.train.dataset)

        def load_dataset(ident: str, params: dict) -> DatasetSplits:
            entry = ctx.registry.get("dataset", ident)
            return ctx.dataset(Component(entry, validate_params(entry, params), entry.spec.name))

        impl = cell.task.entry.load()
        start = time.perf_counter()
        task = impl(config=impl.Config(**cell.task.kwargs), seed=cell.train.seed)
        result = task(model, TaskInput(data=data, device=ctx.device, load_dataset=load_dataset, progress=ctx.progress,
                                       registry=ctx.registry))
        missing = sorted(set(declared_columns(task, cell.task.entry.spec.columns)) - set(result.metrics))
        if missing:
            raise RobarenaError(f"task {cell.task.qid} did not return its declared columns {missing}")
        artifacts = {}
        for name, value in result.artifacts.items():
            artifacts[name] = ctx.cache.put_bytes(bytes(value)) if isinstance(value, (bytes, bytearray)) \
                else ctx.cache.put_arrays({name: value})
        return {"metrics": result.metrics, "artifacts": artifacts, "seconds": round(time.perf_counter() - start, 3)}


TASK = TaskStage()
