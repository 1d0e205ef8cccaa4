"""``robarena run SUITE --dry-run``: the plan, what is cached, and an estimate of its compute.

Nothing is computed and nothing is written: the work directory is read (never created) through
a read-only store, the keys are derived as ``run --explain`` derives them (a cell whose key
cannot be derived, e.g. its dataset's files are missing, counts as to compute).

**Passes.** Costs are example passes (:mod:`bench.api.cost`): per cell, from the component's
optional ``cost`` hook, else a stated default (a defense: standard training, 1 forward +
1 backward per example and epoch) or *unknown* (attacks, probes, tasks without the hook).
The runner's own passes are added: a clean cell is 1 forward per evaluation example, an attack
cell 1 more forward per example (the robust-accuracy scoring), a corruption cell 1 forward per
example. Cached cells and ``[[pretrained]]`` rows (no training) count zero. Attack and defense
costs are upper bounds (no early stop). A transfer attack's substitute is trained once per
(dataset, seed, substitute): it is listed as its own ``train (substitute)`` cell.

**Hours.** CPU: from a throughput measured here at dry-run time, per architecture: a forward
and a backward pass of a random batch of the dataset's shape on this machine's CPU (the batch
sized by a warm-up pass: up to 128 examples, about a quarter second a pass), timed a few times in
about a second (the smallest time of each is kept). GPU: an assumption,
never a measurement: the forward FLOPs of one example (counted with
``torch.utils.flop_counter``, convolutions and matrix products), a backward at twice the
forward's FLOPs, run at :data:`GPU_TFLOPS` sustained (``--gpu-tflops``).
"""
from __future__ import annotations

import inspect
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import torch

from bench.api.cost import Cost
from bench.errors import RobarenaError, UsageError
from bench.runner.context import RunContext
from bench.runner.plan import AttackCell, CleanCell, Component, Plan, ProbeCell, TrainCell

#: the GPU the second estimate is for, and its assumed sustained throughput (TFLOP/s) on these models: an
#: assumption, about 10 % of an H100 SXM's dense bf16 tensor-core peak (989 TFLOP/s) and a fifth of its
#: dense TF32 peak (495), the precisions PyTorch's convolutions use on it by default (TF32) or with --amp
GPU_NAME = "NVIDIA H100"
GPU_TFLOPS = 100.0
#: a backward pass costs about twice the forward's FLOPs (gradients w.r.t. activations and weights)
BACKWARD_FLOPS_RATIO = 2.0
#: attack parameters shown as the attack's budget when present
BUDGET_KEYS = ("steps", "n_iter", "iterations", "max_iter", "restarts", "n_restarts", "eot_iter", "eot_samples",
               "samples", "n_queries", "queries", "binary_search_steps")
MEASURE_SECONDS = 1.0  # timing per architecture, after one warm-up pass


@dataclass
class Throughput:
    """Measured on this machine's CPU: seconds per example of a forward and of a backward pass."""

    label: str
    shape: tuple[int, ...]
    batch: int
    forward_s: float
    backward_s: float
    forward_flops: Optional[float]  # per example, counted (convolutions and matrix products)
    threads: int

    def cpu_hours(self, cost: Cost) -> float:
        return (cost.forward * self.forward_s + cost.backward * self.backward_s) / 3600.0

    def gpu_hours(self, cost: Cost, tflops: float) -> Optional[float]:
        if not self.forward_flops:
            return None
        flops = self.forward_flops * (cost.forward + BACKWARD_FLOPS_RATIO * cost.backward)
        return flops / (tflops * 1e12) / 3600.0


@dataclass
class CellEstimate:
    row_id: str
    cell_id: str
    stage: str  # train, train (substitute), clean, attack, probe, task, corruption
    name: str  # the cell within its row (e.g. "PGD-20 Linf 8/255")
    budget: str  # epochs, examples, steps, ...
    cost: Optional[Cost]  # None: unknown
    basis: str  # declared, default, runner, pretrained, unknown
    status: str  # cached, compute, unknown (its key cannot be derived)
    reason: str = ""
    model: Optional[str] = None  # the throughput entry its passes run on
    cpu_hours: Optional[float] = None
    gpu_hours: Optional[float] = None

    @property
    def counted(self) -> Optional[Cost]:
        """Passes this run would make: zero when cached, None when unknown."""
        return Cost() if self.status == "cached" else self.cost


@dataclass
class DryRun:
    suite: str
    workdir: str
    cells: list[CellEstimate]
    throughput: dict[str, Throughput]
    gpu: str = GPU_NAME
    gpu_tflops: float = GPU_TFLOPS
    datasets: dict[str, str] = field(default_factory=dict)  # label -> sizes and where they come from
    dropped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> Cost:
        return sum((c.counted for c in self.cells if c.counted is not None), Cost())

    @property
    def unknown(self) -> list[CellEstimate]:
        return [c for c in self.cells if c.counted is None]

    @property
    def cpu_hours(self) -> float:
        return sum(c.cpu_hours or 0.0 for c in self.cells)

    @property
    def gpu_hours(self) -> float:
        return sum(c.gpu_hours or 0.0 for c in self.cells)

    def to_json(self) -> dict[str, Any]:
        def cost(c: Optional[Cost]) -> Optional[dict]:
            return None if c is None else {"forward": c.forward, "backward": c.backward}

        return {
            "suite": self.suite, "workdir": self.workdir,
            "cells": [{"row_id": c.row_id, "cell_id": c.cell_id, "stage": c.stage, "budget": c.budget,
                       "cost": cost(c.cost), "basis": c.basis, "status": c.status, "reason": c.reason,
                       "counted": cost(c.counted), "cpu_hours": c.cpu_hours, "gpu_hours": c.gpu_hours}
                      for c in self.cells],
            "total": cost(self.total), "cells_of_unknown_cost": len(self.unknown),
            "cpu_hours": self.cpu_hours, "gpu_hours": self.gpu_hours,
            "throughput_measured_here": {k: {"shape": list(t.shape), "batch": t.batch, "forward_s": t.forward_s,
                                             "backward_s": t.backward_s, "forward_flops": t.forward_flops,
                                             "cpu_threads": t.threads} for k, t in self.throughput.items()},
            "gpu_assumption": {"gpu": self.gpu, "sustained_tflops": self.gpu_tflops,
                               "backward_flops_ratio": BACKWARD_FLOPS_RATIO},
            "datasets": self.datasets, "dropped": [list(d) for d in self.dropped],
            "notes": [list(n) for n in self.notes],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


# --------------------------------------------------------------------------- read-only context

def _snapshot_store(path: Path) -> Any:
    """The results store at ``path``, read-only and without creating SQLite's ``-wal``/``-shm`` files: opened
    immutable when no ``-wal`` file exists (the database file then holds every committed record), else as
    :class:`~bench.store.results.ResultsStore` reads it (a writer is active or left its log)."""
    import sqlite3

    from bench.store.results import ResultsStore

    class SnapshotStore(ResultsStore):
        def _open_readonly(self) -> None:
            if self.path.with_name(self.path.name + "-wal").exists():
                return super()._open_readonly()
            try:
                self.conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True,
                                            isolation_level=None)
                self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                raise self._damaged(exc) from None
            self.readonly = True

    return SnapshotStore(path, readonly=True)


@dataclass
class ReadOnlyContext(RunContext):
    """A :class:`RunContext` that never writes: the store is opened read-only if it exists (else
    ``store`` is None: nothing is cached) and the work directory is not created."""

    def __post_init__(self) -> None:  # no mkdir, no writable store
        from bench.store.cache import ArtifactCache

        self.workdir = Path(self.workdir)
        db = self.workdir / "results.sqlite"
        self.store = _snapshot_store(db) if db.is_file() else None
        self.cache = ArtifactCache(self.workdir / "cache")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def is_cached(ctx: ReadOnlyContext, key: str) -> bool:
    """Whether the stored ok record of ``key`` verifies with all its artifacts (nothing is discarded)."""
    from bench.store.results import artifact_digests

    if ctx.store is None:
        return False
    rec = ctx.store.get_cell(key, on_mismatch="missing")
    if rec is None or rec["status"] != "ok":
        return False
    return all(ctx.cache.has(digest) for _field, digest in artifact_digests(rec["payload"]))


# --------------------------------------------------------------------------- sizes and throughput

@dataclass
class _Data:
    n_train: Optional[int]
    n_test: Optional[int]
    shape: Optional[tuple[int, int, int]]
    num_classes: Optional[int]
    source: str


def _data(ctx: RunContext, comp: Component) -> _Data:
    """Sizes, shape and classes of a dataset: loaded (as the run loads it), else declared without files."""
    from bench.runner.plan import dataset_shape

    try:
        d = ctx.dataset(comp)
        return _Data(len(d.y_train), len(d.y_test), tuple(d.shape), d.num_classes, "loaded")  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - e.g. the files are missing: sizes from the declaration
        why = f"not loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    impl = comp.entry.load()
    sizes = None
    if hasattr(impl, "output_sizes"):
        try:
            sizes = impl.output_sizes(impl.Config(**comp.kwargs))
        except Exception:  # noqa: BLE001 - e.g. an unreadable test_ids file: sizes unknown
            sizes = None
    try:
        shape = dataset_shape(comp)
    except Exception:  # noqa: BLE001
        shape = None
    n_train, n_test = sizes if sizes else (None, None)
    return _Data(n_train, n_test, shape, comp.entry.spec.num_classes,
                 f"{why}; sizes {'declared by the dataset' if sizes else 'unknown'}")


def measure(build: Callable[[], torch.nn.Module], shape: tuple[int, ...], label: str,
            seconds: float = MEASURE_SECONDS, max_batch: int = 128) -> Throughput:
    """Time forward and backward passes of ``build()`` on random batches of ``shape`` on the CPU: a
    warm-up at 4 examples sizes the batch (a power of two up to ``max_batch`` whose pass takes about
    ``seconds / 4``), then repeats for about ``seconds``; the smallest time of each, per example."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build().cpu().train()
        x = torch.rand(max_batch, *shape)
    flops: Optional[float]
    try:
        with FlopCounterMode(display=False) as counter:
            with torch.no_grad():
                model(x[:1])
        flops = float(counter.get_total_flops()) or None
    except Exception:  # noqa: BLE001 - an operation the counter cannot trace: no GPU estimate for it
        flops = None

    def once(batch: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        out = model(x[:batch])
        t1 = time.perf_counter()
        (out if isinstance(out, torch.Tensor) else out[0]).float().sum().backward()
        t2 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        return t1 - t0, t2 - t1

    once(4)  # warm-up (the first call allocates)
    f, b = once(4)
    batch = 4
    while 2 * batch <= max_batch and 2 * batch * (f + b) / 4 <= seconds / 4:
        batch *= 2
    once(batch)  # warm-up at that batch
    fwd, bwd = [], []
    start = time.perf_counter()
    while not fwd or (time.perf_counter() - start < seconds and len(fwd) < 5):
        f, b = once(batch)
        fwd.append(f)
        bwd.append(b)
    return Throughput(label, tuple(shape), batch, min(fwd) / batch, min(bwd) / batch, flops,
                      torch.get_num_threads())


# --------------------------------------------------------------------------- costs

def _fmt(x: float) -> str:
    return f"{x:g}" if x < 1e4 else f"{x:.3g}"


def _declares(comp: Component) -> bool:
    return callable(getattr(comp.entry.load(), "cost", None))


def _accepted(fn: Callable[..., Any], available: dict[str, Any]) -> dict[str, Any]:
    """The keywords of ``available`` (known, not None) that ``fn``'s signature names: sizes a cost may
    need beyond ``(n, n_train)``, e.g. ``num_classes``."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in available.items() if v is not None and k in params}


def _declared(comp: Component, call: Callable[[Any], Optional[Cost]], make: Callable[[Any], Any]) -> Optional[Cost]:
    impl = comp.entry.load()
    if not callable(getattr(impl, "cost", None)):
        return None
    cost = call(make(impl))
    if cost is not None and not isinstance(cost, Cost):
        raise UsageError(f"{comp.entry.kind} {comp.qid!r}: cost() returned {type(cost).__name__}, not bench.api.Cost")
    return cost


def train_cost(cell: TrainCell, n_train: Optional[int]) -> tuple[Optional[Cost], str, str]:
    """(passes of the whole training, basis, budget text)."""
    if cell.pretrained is not None:
        return Cost(), "pretrained", "pretrained checkpoint: no training"
    tc, defense = cell.train, cell.defense
    if tc is None or defense is None:  # the plan gives every trained cell both
        raise RobarenaError(f"training cell {cell.row_id!r} has no training budget or defense")
    if n_train is None:
        return None, "unknown", f"{tc.epochs} epochs, batch {tc.batch_size}, training examples unknown"
    steps = tc.epochs * max(1, math.ceil(n_train / tc.batch_size))
    budget = f"{tc.epochs} epochs x {n_train} ex, batch {tc.batch_size} ({steps} steps)"
    cost = _declared(defense, lambda d: d.cost(n_train), lambda i: i(config=i.Config(**defense.kwargs), train=tc))
    if cost is not None:
        basis = "declared"
    else:
        cost = Cost.steps(1) * (tc.epochs * n_train) if getattr(defense.entry.spec, "trains", True) else Cost()
        basis = "default"
    per = cost * (1.0 / (tc.epochs * n_train)) if tc.epochs * n_train else cost
    return cost, basis, f"{budget}; {defense.label} {_fmt(per.forward)}F+{_fmt(per.backward)}B per ex-epoch"


def attack_cost(cell: AttackCell, n: Optional[int], num_classes: Optional[int] = None
                ) -> tuple[Optional[Cost], str, str]:
    """(passes of the attack cell, basis, budget text); ``num_classes`` goes to a ``cost`` that asks for it."""
    kw = cell.attack.kwargs
    shown = ", ".join(f"{k} {kw[k]}" for k in BUDGET_KEYS if k in kw)
    per = _declared(cell.attack, lambda a: a.cost(cell.threat, **_accepted(a.cost, {"num_classes": num_classes})),
                    lambda i: i(i.Config(**kw)))
    extra = f"; from the {cell.reuse_from.threat.label} result" if cell.reuse_from is not None else ""
    if per is None:
        why = "cost not known before the run (see its cost())" if _declares(cell.attack) else "cost not declared"
        return None, "unknown", f"{shown or 'budget not declared'}; {why}{extra}"
    budget = f"{shown + '; ' if shown else ''}{_fmt(per.forward)}F+{_fmt(per.backward)}B per ex{extra}"
    if n is None:
        return None, "declared", budget + "; evaluation examples unknown"
    return per * n + Cost(n, 0), "declared", f"{budget}; n {n}"


def _probe_or_task_cost(comp: Component, n: Optional[int], n_train: Optional[int],
                        sizes: Optional[dict[str, Any]] = None) -> tuple[Optional[Cost], str, str]:
    """``sizes``: what a ``cost`` may ask for by keyword beyond ``(n, n_train)`` (``num_classes``,
    ``attacks_per_threat``, ``dataset_sizes``); passed only where its signature names them."""
    if n is None:
        return None, "unknown", "evaluation examples unknown"
    cost = _declared(comp, lambda p: p.cost(n, n_train or 0, **_accepted(p.cost, sizes or {})),
                     lambda i: i(i.Config(**comp.kwargs)))
    if cost is None:
        why = "cost not known before the run (see its cost())" if _declares(comp) else "cost not declared"
        return None, "unknown", f"n {n}; {why}"
    return cost, "declared", f"n {n}"


def _attacks_per_threat(cell: ProbeCell) -> tuple[int, ...]:
    """Attack cells given to a probe, counted per untargeted white-box threat model (in plan order)."""
    counts: dict[str, int] = {}
    for a in cell.attacks:
        if a.substitute is None and not a.threat.targeted:
            counts[a.threat.label] = counts.get(a.threat.label, 0) + 1
    return tuple(counts.values())


# --------------------------------------------------------------------------- the dry run

def _status(ctx: ReadOnlyContext, cell: Any) -> tuple[str, str]:
    from bench.runner.stages import stage_for

    try:
        key = stage_for(cell).key(ctx, cell)
    except Exception as exc:  # noqa: BLE001 - e.g. the dataset cannot be loaded: the run computes the cell
        return "unknown", f"key not derivable: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    if is_cached(ctx, key):
        return "cached", f"stored {key[:12]}"
    return "compute", ""


def _model_key(cell: TrainCell) -> tuple[str, Any]:
    if cell.pretrained is not None:
        pre = cell.pretrained
        return pre.label, ("pretrained", pre.arch, json.dumps(pre.arch_params, sort_keys=True), pre.checkpoint)
    model = cell.model
    if model is None:  # the plan gives every trained cell a model
        raise RobarenaError(f"training cell {cell.row_id!r} has no model")
    return model.label, ("model", model.qid, json.dumps(model.kwargs, sort_keys=True))


def dry_run_plan(plan: Plan, ctx: ReadOnlyContext, measure_throughput: bool = True,
                 gpu_tflops: float = GPU_TFLOPS) -> DryRun:
    """Every cell of ``plan`` with its budget, cost, cache status and hours (see the module docstring)."""
    from bench.runner.models import build_arch, build_registered

    if not gpu_tflops > 0:
        raise UsageError(f"--gpu-tflops must be positive, got {gpu_tflops}")
    datas: dict[tuple, _Data] = {}
    labels: dict[str, str] = {}

    def data_of(comp: Component) -> _Data:
        key = (comp.qid, json.dumps(comp.kwargs, sort_keys=True))
        if key not in datas:
            datas[key] = _data(ctx, comp)
            d = datas[key]
            labels[comp.label] = f"{d.n_train} train / {d.n_test} test, shape {d.shape}, {d.source}"
        return datas[key]

    throughput: dict[str, Throughput] = {}
    model_names: dict[tuple, str] = {}
    failed: list[tuple[str, str]] = []

    def model_of(cell: TrainCell) -> Optional[str]:
        label, key = _model_key(cell)
        d = data_of(cell.dataset)
        key = (key, d.shape, d.num_classes)
        if key in model_names:
            return model_names[key]
        name = label if label not in model_names.values() else f"{label} ({len(model_names)})"
        model_names[key] = name
        if not measure_throughput or d.shape is None or d.num_classes is None:
            return name
        if cell.pretrained is not None:
            pre = cell.pretrained
            build = lambda: build_arch(pre.arch, ctx.registry, d.shape, d.num_classes, pre.arch_params,  # noqa: E731
                                       pre.mean, pre.std)
        else:
            model = cell.model
            build = lambda: build_registered(model.entry, model.kwargs, d.shape, d.num_classes)  # noqa: E731
        try:
            throughput[name] = measure(build, d.shape, name)
        except Exception as exc:  # noqa: BLE001 - the run would fail this model's cells; the plan is still shown
            failed.append((f"throughput of {name}", f"not measured ({type(exc).__name__}: {exc}); its hours are "
                                                    "unknown"))
        return name

    def dataset_sizes(ident: str, params: dict) -> Optional[tuple[int, int]]:
        """(train, test) sizes of a dataset a probe or task loads itself (transfer targets), else None."""
        from bench.runner.plan import validate_params

        entry = ctx.registry.get("dataset", ident)
        d = data_of(Component(entry, validate_params(entry, params), entry.spec.name))
        return None if d.n_train is None or d.n_test is None else (d.n_train, d.n_test)

    cells: list[CellEstimate] = []

    def add(row: TrainCell, cell: Any, stage: str, name: str, cost_basis_budget: tuple, model: Optional[str]) -> None:
        cost, basis, budget = cost_basis_budget
        status, reason = _status(ctx, cell)
        est = CellEstimate(row.row_id, getattr(cell, "cell_id", None) or cell.row_id, stage, name, budget, cost,
                           basis, status, reason, model)
        counted = est.counted
        if counted is not None and model is not None and model in throughput:
            est.cpu_hours = throughput[model].cpu_hours(counted)
            est.gpu_hours = throughput[model].gpu_hours(counted, gpu_tflops)
        cells.append(est)

    substitutes: set[tuple] = set()
    for train in plan.train_cells:
        d = data_of(train.dataset)
        n_eval = None if d.n_test is None else min(ctx.eval_n, d.n_test)
        model = model_of(train)
        add(train, train, "train", "train", train_cost(train, d.n_train), model)
        add(train, CleanCell(train), "clean", "clean",
            (None if n_eval is None else Cost(n_eval, 0), "runner", f"n {n_eval}"), model)
        attacks, probes, tasks = plan.for_train(train)
        for a in attacks:
            if a.substitute is not None:
                sub = a.substitute
                sub_key = (sub.row_id, _model_key(sub)[1], sub.defense.qid if sub.defense else None,
                           json.dumps(sub.defense.kwargs if sub.defense else {}, sort_keys=True))
                if sub_key not in substitutes:
                    substitutes.add(sub_key)
                    add(train, sub, "train (substitute)", f"substitute of {a.attack.label}",
                        train_cost(sub, data_of(sub.dataset).n_train), model_of(sub))
            add(train, a, "attack", a.column, attack_cost(a, n_eval, d.num_classes), model)
        for p in probes:
            at = f" @e{p.epoch}" if p.epoch is not None else ""  # probes over training: one cell per epoch
            sizes = {"num_classes": d.num_classes, "attacks_per_threat": _attacks_per_threat(p)}
            add(train, p, "probe", f"probe {p.probe.label}{at}",
                _probe_or_task_cost(p.probe, n_eval, d.n_train, sizes), model)
        for t in tasks:
            add(train, t, "task", f"task {t.task.label}",
                _probe_or_task_cost(t.task, n_eval, d.n_train,
                                    {"num_classes": d.num_classes, "dataset_sizes": dataset_sizes}), model)
        for c in plan.corruptions_for(train) if hasattr(plan, "corruptions_for") else ():
            add(train, c, "corruption", f"corruption {c.column}",
                (None if n_eval is None else Cost(n_eval, 0), "runner", f"n {n_eval}"), model)
    return DryRun(plan.suite.name, str(ctx.workdir), cells, throughput, GPU_NAME, gpu_tflops, labels,
                  list(plan.dropped), list(plan.notes) + failed)


def dry_run(suite: Union[str, Path, dict], workdir: Union[str, Path] = ".robarena", device: str = "auto",
            plugins: Iterable[str] = (), trust_modules: Iterable[str] = (), measure_throughput: bool = True,
            gpu_tflops: float = GPU_TFLOPS, **options: Any) -> DryRun:
    """Build the suite's plan as ``run`` does and estimate it against ``workdir``; nothing is computed or
    written (a missing data root is reported per dataset, not refused)."""
    from bench.registry import get_registry
    from bench.runner.context import resolve_device
    from bench.runner.models import trusting
    from bench.runner.plan import build_plan
    from bench.runner.preflight import check_plan
    from bench.runner.suite import resolve_suite

    registry = get_registry(tuple(plugins))
    suite_obj = resolve_suite(suite, registry)
    with trusting(list(trust_modules)):
        plan = build_plan(suite_obj, registry)
        check_plan(plan, registry, local_data=False)
        ctx = ReadOnlyContext(registry=registry, workdir=Path(workdir), device=resolve_device(device), progress=False,
                              eval_n=suite_obj.eval.n, eval_batch=suite_obj.eval.batch_size,
                              amp=bool(options.get("amp")), channels_last=bool(options.get("channels_last")),
                              compile=options.get("compile"))
        try:
            return dry_run_plan(plan, ctx, measure_throughput, gpu_tflops)
        finally:
            ctx.close()
