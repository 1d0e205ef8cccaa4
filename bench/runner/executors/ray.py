"""Run a plan on Ray: one task per cell, its stage dependencies passed as ObjectRefs.

Dependencies: a row's training -> its clean, attack, probe and task cells; an attack with a
substitute (black-box transfer) also waits for the substitute's training; a probe that reads
adversarial examples waits for the row's attacks. Cells whose records the store already holds
(artifacts verified by their hash) are not submitted, so a re-run or a resumed run only
computes what is missing, as in process.

Workers never write the SQLite store. Each opens a :class:`WorkerContext` on the run's work
directory whose store is in memory: it holds the records of the cells the task depends on
(handed in by the driver) and collects the records the task writes. Those come back to the
driver, which alone persists them into ``results.sqlite`` (and calls the cell hooks). Artifacts
(checkpoints, adversarial examples, probe arrays) go through the content-addressed cache in the
work directory: on a cluster, the work directory must be on a filesystem that every node mounts
at the same path, and the plugins (and datasets) must be installed on every node.

GPUs: with a CUDA device every task declares ``num_gpus`` (1 by default) and Ray assigns the
GPU (``CUDA_VISIBLE_DEVICES``), so ``cuda:N`` means "a GPU" on workers.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch

from bench.errors import UsageError
from bench.runner.context import RunContext
from bench.runner.executors.inprocess import evaluate_cell, failed_record
from bench.runner.plan import AttackCell, CleanCell, Plan, TrainCell
from bench.runner.stages import Cell, cell_id_of, key_for, load_model, lookup, refresh_labels
from bench.store.cache import ArtifactCache
from bench.store.results import utc_now

FORWARDED_ENV_PREFIXES = ("ROBARENA_", "PYTHONPATH")  # passed to workers of a Ray instance this run starts


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("the Ray executor needs Ray: pip install 'robarena[ray]' (or pip install ray)") from None
    return ray


@dataclass(frozen=True)
class WorkerJob:
    """What every worker needs to rebuild the run's context (the cells travel with each task)."""

    plugins: tuple[str, ...]
    autoload: bool
    workdir: str
    device: str
    eval_n: int
    eval_batch: int
    amp: bool
    channels_last: bool
    compile: Optional[str]
    debug: bool
    suite_name: str


class HandoffStore:
    """A worker's store: records handed in by the driver; writes are kept for the driver to persist."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.written: list[dict] = []

    def hand_in(self, records: list[dict]) -> None:
        self.records.update({r["key"]: r for r in records})

    def get_cell(self, key: str, on_mismatch: str = "raise") -> Optional[dict]:  # handed-in records: verified by the driver
        return self.records.get(key)

    def put_cell(self, key: str, stage: str, cell_id: str, status: str, payload: dict, meta: dict,
                 error: Optional[str] = None) -> dict:
        record = {"key": key, "stage": stage, "cell_id": cell_id, "status": status, "payload": payload,
                  "meta": meta, "error": error, "created": utc_now()}
        self.records[key] = record
        self.written.append(record)
        return record

    def update_labels(self, key: str, cell_id: str, meta: dict) -> None:  # labels are the driver's business
        if key in self.records:
            self.records[key] = {**self.records[key], "cell_id": cell_id, "meta": meta}

    def close(self) -> None:
        pass


class WorkerContext(RunContext):
    """A RunContext on the shared work directory whose store is a :class:`HandoffStore`."""

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.store = HandoffStore()  # type: ignore[assignment]
        self.cache = ArtifactCache(self.workdir / "cache")


_WORKER_CONTEXTS: dict[WorkerJob, WorkerContext] = {}  # per worker process: datasets stay loaded across tasks


def _worker_context(job: WorkerJob) -> WorkerContext:
    ctx = _WORKER_CONTEXTS.get(job)
    if ctx is None:
        from bench.registry import get_registry

        _WORKER_CONTEXTS.clear()  # one run's datasets at a time
        device = torch.device("cuda") if job.device.startswith("cuda") else torch.device(job.device)
        ctx = WorkerContext(registry=get_registry(job.plugins, autoload=job.autoload), workdir=Path(job.workdir),
                            device=device, progress=False, eval_n=job.eval_n, eval_batch=job.eval_batch,
                            debug=job.debug, amp=job.amp, channels_last=job.channels_last,
                            compile=job.compile)
        _WORKER_CONTEXTS[job] = ctx
    ctx.store = HandoffStore()  # type: ignore[assignment]
    ctx.models.clear()
    ctx.computed.clear()
    ctx.keys.clear()  # cells arrive pickled per task: memoized keys of earlier tasks' cells are dead
    return ctx


def run_cell_task(job: WorkerJob, cell: Cell, *upstream: dict) -> dict:
    """The body of one Ray task: compute ``cell`` given its dependencies' results.

    ``upstream``: ``{"record", "written"}`` results of the cells it depends on, the row's training
    first. Returns the cell's record and every record the task wrote (a probe may recompute an
    attack), for the driver to persist.
    """
    ctx = _worker_context(job)
    for result in upstream:
        ctx.store.hand_in([*result["written"], result["record"]])
    if isinstance(cell, TrainCell):
        try:
            _, rec = load_model(ctx, cell)
        except Exception as exc:
            rec = failed_record(ctx, cell, exc, suite_name=job.suite_name)
    elif upstream[0]["record"]["status"] != "ok":
        rec = failed_record(ctx, cell, upstream[0]["record"]["error"] or "", upstream=True, suite_name=job.suite_name)
    else:
        rec = evaluate_cell(ctx, cell, job.suite_name)
    ctx.models.clear()
    return {"record": rec, "written": list(ctx.store.written)}


def ray_init_args(address: Optional[str], num_cpus: Optional[int]) -> dict[str, Any]:
    """``ray.init`` arguments: a local instance with ``num_cpus`` (default: all cores), or ``address``."""
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    args: dict[str, Any] = {"logging_level": logging.WARNING, "runtime_env": {"env_vars": env}}
    if address:
        if num_cpus is not None:
            raise UsageError("--ray-num-cpus sizes a local Ray instance; a cluster's nodes declare their own CPUs. "
                             "Drop it or drop --address")
        args["address"] = address
    else:
        args.update(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False)
    return args


def task_options(device: torch.device, gpus_per_task: float) -> dict[str, Any]:
    """Resources each cell's task declares: one CPU, and ``gpus_per_task`` GPUs on a CUDA device."""
    if device.type != "cuda":
        return {"num_cpus": 1, "num_gpus": 0}
    if gpus_per_task <= 0:
        raise UsageError("--ray-gpus-per-task must be > 0 with a CUDA device (Ray hides GPUs from tasks without)")
    return {"num_cpus": 1, "num_gpus": gpus_per_task}


Source = Union[dict, Any]  # a finished result {"record", "written"} or the ObjectRef of one


class _Driver:
    def __init__(self, ray: Any, plan: Plan, ctx: RunContext, on_record: Optional[Callable[[Cell, dict], None]],
                 job: WorkerJob, gpus_per_task: float) -> None:
        self.ray, self.plan, self.ctx, self.on_record = ray, plan, ctx, on_record
        self.job = job
        self.remote = ray.remote(run_cell_task).options(**task_options(ctx.device, gpus_per_task))
        self.by_key: dict[str, Source] = {}
        self.pending: dict[Any, list[int]] = {}  # ObjectRef -> slots waiting for it
        self.slots: list[tuple[Cell, Optional[dict]]] = []
        self.bar = None

    # ------------------------------------------------------------------ submission
    def _source(self, cell: Cell, deps: list[Source]) -> Source:
        """The cell's result if stored already, else the ObjectRef of its task (one task per key)."""
        key = key_for(self.ctx, cell)
        if key not in self.by_key:
            rec = lookup(self.ctx, cell)
            if rec is not None:
                self.by_key[key] = {"record": rec, "written": []}
            else:
                ref = self.remote.remote(self.job, cell, *deps)
                self.pending.setdefault(ref, [])
                self.by_key[key] = ref
        return self.by_key[key]

    def _attack_source(self, cell: AttackCell, train: Source) -> Source:
        """An attack cell's source: it depends on its row's training, its substitute's and, with
        ``eval.reuse_smaller_eps``, the same attack at the next smaller eps (submitted first)."""
        deps = [train]
        if cell.substitute is not None:
            deps.append(self._source(cell.substitute, []))
        if cell.reuse_from is not None:
            deps.append(self._attack_source(cell.reuse_from, train))
        return self._source(cell, deps)

    def _slot(self, cell: Cell, source: Source) -> None:
        self.slots.append((cell, None))
        if isinstance(source, dict):
            self._finish(len(self.slots) - 1, source["record"])
        else:
            self.pending[source].append(len(self.slots) - 1)

    def _fail(self, cell: Cell, exc: Union[BaseException, str], upstream: bool = False) -> None:
        self.slots.append((cell, None))
        self._finish(len(self.slots) - 1, failed_record(self.ctx, cell, exc, upstream, self.plan.suite.name),
                     refresh=False)

    def submit(self) -> None:
        for train_cell in self.plan.train_cells:
            attacks, probes, tasks = self.plan.for_train(train_cell)
            tasks = [*tasks, *self.plan.corruptions_for(train_cell)]  # corruption cells run last
            clean = CleanCell(train_cell)
            try:
                train = self._source(train_cell, [])
            except Exception as exc:  # e.g. the dataset does not load: nothing to key or run on
                self._fail(train_cell, exc)
                for dependent in [clean, *attacks, *probes, *tasks]:
                    self._fail(dependent, exc, upstream=True)
                continue
            self._slot(train_cell, train)
            attack_sources: dict[str, Source] = {}  # by column (unique within a row)
            for cell in [clean, *attacks, *probes, *tasks]:
                deps = [train]
                deps += [attack_sources[a.column] for a in getattr(cell, "attacks", ()) if a.column in attack_sources]
                try:
                    source = self._attack_source(cell, train) if isinstance(cell, AttackCell) else \
                        self._source(cell, deps)
                except Exception as exc:
                    self._fail(cell, exc)
                    continue
                if isinstance(cell, AttackCell):
                    attack_sources[cell.column] = source
                self._slot(cell, source)

    # ------------------------------------------------------------------ results
    def _finish(self, slot: int, rec: dict, refresh: bool = True) -> None:
        cell = self.slots[slot][0]
        if refresh:
            rec = refresh_labels(self.ctx, cell, rec)
        self.slots[slot] = (cell, rec)
        if self.bar is not None:  # tasks run side by side: one line (or bar step) per finished cell
            status = "FAILED" if rec["status"] != "ok" else "ok" if rec["key"] in self.ctx.computed else "cached"
            self.bar.finish(rec.get("cell_id") or cell_id_of(cell), status)
        if self.on_record is not None:  # a hook's exception propagates; the cell's record is already stored
            self.on_record(cell, rec)

    def _persist(self, result: dict) -> dict:
        """Write a task's records into the store (the driver is the only writer); the cell's stored record."""
        stored = {}
        for rec in result["written"]:
            stored[rec["key"]] = self.ctx.store.put_cell(rec["key"], rec["stage"], rec["cell_id"], rec["status"],
                                                         rec["payload"], rec["meta"], rec["error"])
            if rec["status"] == "ok":
                self.ctx.computed.append(rec["key"])
        return stored.get(result["record"]["key"], result["record"])

    def collect(self) -> None:
        while self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1)
            for ref in ready:
                slots = self.pending.pop(ref)
                try:
                    rec = self._persist(self.ray.get(ref))
                except Exception as exc:  # the task itself died (worker crash, lost node, unpicklable result)
                    for slot in slots:
                        cell = self.slots[slot][0]
                        self._finish(slot, failed_record(self.ctx, cell, exc, suite_name=self.plan.suite.name),
                                     refresh=False)
                    continue
                for slot in slots:
                    self._finish(slot, rec)

    def run(self) -> list[dict]:
        if self.ctx.progress:
            from bench.progress import CellProgress

            self.bar = CellProgress(self.plan.n_cells, f"suite {self.plan.suite.name} (ray)")
        try:
            self.submit()
            self.collect()
        finally:
            if self.bar is not None:
                self.bar.close()
        return [rec for _, rec in self.slots if rec is not None]


def execute(plan: Plan, ctx: RunContext, on_record: Optional[Callable[[Cell, dict], None]] = None,
            address: Optional[str] = None, num_cpus: Optional[int] = None, gpus_per_task: float = 1.0,
            plugins: tuple[str, ...] = (), autoload: Optional[bool] = None) -> list[dict]:
    """Run all cells as Ray tasks; return their records in plan order (as the in-process executor).

    Uses the Ray instance this process is connected to, else starts one with
    :func:`ray_init_args` (and shuts it down at the end). ``plugins``/``autoload``: the plugin
    options the workers load the registry with (the driver's).
    """
    from bench.plugins import autoload_enabled

    task_options(ctx.device, gpus_per_task)  # bad options fail before Ray starts
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(**ray_init_args(address, num_cpus))
        started = True
    job = WorkerJob(plugins=tuple(plugins), autoload=autoload_enabled() if autoload is None else autoload,
                    workdir=str(Path(ctx.workdir).resolve()), device=str(ctx.device), eval_n=ctx.eval_n,
                    eval_batch=ctx.eval_batch, amp=ctx.amp, channels_last=ctx.channels_last, compile=ctx.compile,
                    debug=ctx.debug,
                    suite_name=plan.suite.name)
    try:
        return _Driver(ray, plan, ctx, on_record, job, gpus_per_task).run()
    finally:
        if started:
            ray.shutdown()
