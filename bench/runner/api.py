"""The Python API behind ``robarena run`` and ``robarena eval``: ``bench.run(...)`` and ``bench.evaluate(...)``."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from bench.errors import UsageError
from bench.rows.schema import Row
from bench.registry import get_registry
from bench.runner.plan import Plan, build_plan
from bench.runner.preflight import check_plan
from bench.runner.suite import Suite, resolve_suite

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DEFAULT_WORKDIR = Path(".robarena")
EXECUTORS = ("inprocess", "ray")


@dataclass
class CellFailure:
    cell_id: str
    stage: str
    error: str


@dataclass
class RunResult:
    """Rows (one per trained model), failed cells, the plan and how much was computed."""

    suite: Suite
    plan: Plan
    rows: list[Row]
    failures: list[CellFailure]
    workdir: Path
    run_id: str
    computed: int = 0
    cached: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_pandas(self) -> "pd.DataFrame":
        """One row per model; metric columns are floats (accuracies as fractions)."""
        from bench.rows.frame import to_frame

        return to_frame(self.rows)


def run(suite: Union[str, Path, dict, Suite], workdir: Union[str, Path] = DEFAULT_WORKDIR, device: str = "auto",
        plugins: Iterable[str] = (), progress: bool = False, debug: bool = False, executor: str = "inprocess",
        address: Optional[str] = None, ray_num_cpus: Optional[int] = None, ray_gpus_per_task: float = 1.0,
        amp: bool = False, channels_last: bool = False, compile: Optional[str] = None,
        trust_modules: Iterable[str] = ()) -> RunResult:
    """Run ``suite`` (a plugin-shipped name such as ``"quick"``, a TOML path, a dict or a Suite).

    Args:
        workdir: results store and artifact cache (default ``./.robarena``); re-runs reuse it.
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda`` or ``cuda:N``.
        plugins: ``-p`` style plugin options (``NAME`` or ``no:NAME``).
        progress: show progress bars. debug: print tracebacks of failed cells.
        executor: ``inprocess`` (default) or ``ray`` (one Ray task per cell; see docs/scale.md).
        address: Ray cluster address (``auto``, ``ray://host:10001``); default: start a local instance
            with ``ray_num_cpus`` CPUs (default all cores). ``ray_gpus_per_task``: GPUs per task on CUDA.
        amp: bf16 autocast for training and clean inference on CUDA (never for attacks or robust scoring).
        channels_last: channels_last memory format on CUDA. Both are ignored, with a warning, on CPU.
        compile: a ``torch.compile`` backend (``"inductor"``, ...) for the models attacks run on, on
            any device; part of attack cells' cache keys (compiled kernels may round differently).
        trust_modules: modules whose functions ``module:factory`` architectures may call (``--trust-module``;
            added to ``ROBARENA_TRUSTED_MODULES`` for this run; never robarena's own modules).
    """
    if trust_modules:
        from bench.runner.models import trusting

        with trusting(trust_modules):
            return run(suite, workdir=workdir, device=device, plugins=plugins, progress=progress, debug=debug,
                       executor=executor, address=address, ray_num_cpus=ray_num_cpus,
                       ray_gpus_per_task=ray_gpus_per_task, amp=amp, channels_last=channels_last, compile=compile)
    from bench.runner.context import RunContext, check_compile_backend, resolve_device
    from bench.runner.results import rows_from_records
    from bench.runner.stages import LABEL_FIELDS

    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if executor != "ray" and (address is not None or ray_num_cpus is not None):
        raise UsageError("--address and --ray-num-cpus apply to --executor ray")
    check_compile_backend(compile)
    plugins = tuple(plugins)
    registry = get_registry(plugins)
    suite_obj = resolve_suite(suite, registry)
    plan = build_plan(suite_obj, registry)
    check_plan(plan, registry, local_data=executor != "ray" or address is None)  # setup errors: exit 2, no run
    dev = resolve_device(device, require_local=executor != "ray" or address is None)
    ctx = RunContext(registry=registry, workdir=Path(workdir), device=dev, progress=progress,
                     eval_n=suite_obj.eval.n, eval_batch=suite_obj.eval.batch_size, debug=debug, amp=amp,
                     channels_last=channels_last, compile=compile)
    ctx.warn_ignored_options()
    if executor == "ray":
        from functools import partial

        from bench.runner.executors.ray import execute

        execute = partial(execute, address=address, num_cpus=ray_num_cpus, gpus_per_task=ray_gpus_per_task,
                          plugins=plugins)
    else:
        from bench.runner.executors.inprocess import execute
    run_id = uuid.uuid4().hex[:12]
    try:
        ctx.store.start_run(run_id, suite_obj.name, suite_obj.version, [])
        registry.pm.hook.robarena_run_start(suite=suite_obj, plan=plan, workdir=str(ctx.workdir))
        records = execute(plan, ctx, on_record=lambda cell, rec: registry.pm.hook.robarena_cell_finished(
            cell=cell, record=rec))
        failures = [CellFailure(r["cell_id"], r["stage"], r["error"] or "") for r in records if r["status"] != "ok"]
        labels = {r["key"]: {k: r["meta"][k] for k in LABEL_FIELDS if k in r["meta"]} | {"cell_id": r["cell_id"]}
                  for r in records}
        ctx.store.finish_run(run_id, "ok" if not failures else "failed", [r["key"] for r in records], labels)
        rows = rows_from_records(ctx.cache, records, suite_obj.name, suite_obj.version)
        computed = len({r["key"] for r in records} & set(ctx.computed))  # substitutes are not rows' cells
        result = RunResult(suite_obj, plan, rows, failures, ctx.workdir, run_id, computed=computed,
                           cached=len(records) - computed - len(failures), dropped=list(plan.dropped))
        registry.pm.hook.robarena_run_finished(result=result)
        return result
    finally:
        ctx.close()


def evaluate(arch: str, checkpoint: str, dataset: str, attacks: list[dict[str, Any]],
             probes: Optional[list[dict[str, Any]]] = None, label: Optional[str] = None,
             n: int = 500, name: str = "eval", dataset_params: Optional[dict[str, Any]] = None,
             arch_params: Optional[dict[str, Any]] = None, corruptions: Optional[list[dict[str, Any]]] = None,
             **kwargs: Any) -> RunResult:
    """Evaluate an already-trained model through the same attacks, probes and store (``robarena eval``).

    ``arch``: a registered model id, ``timm/<name>`` or ``module:factory``; ``checkpoint``:
    ``.safetensors`` or a weights-only torch file; ``attacks``: suite-style attack entries with
    their parameters (``{"id": "classics/pgd", "norm": "Linf", "eps": 0.3, "params": {"steps": 100}}``);
    ``corruptions``: suite-style corruption entries (``{"id": "corruptions/jpeg", "severity": [1, 3]}``);
    ``dataset_params`` / ``arch_params``: the dataset's and architecture's parameters. Everything is
    validated by the same config classes, with the same errors, as in suites.
    """
    attacks = _distinct_labels(attacks)
    suite = {"name": name, "pretrained": [{"label": label or Path(checkpoint).stem, "arch": arch,
                                           "checkpoint": str(checkpoint), "dataset": dataset,
                                           "dataset_params": dict(dataset_params or {}),
                                           "arch_params": dict(arch_params or {})}],
             "attacks": attacks, "probes": probes or [], "corruptions": corruptions or [], "eval": {"n": n}}
    from bench.runner.suite import suite_from_dict

    where = ("built from the eval options (pretrained.0: the model; attacks.N: the (N+1)-th --attack; probes.N: the "
             "(N+1)-th --probe; corruptions.N: the (N+1)-th --corruption entry; eval.n: --n; name: --name)")
    return run(suite_from_dict(suite, where=where), **kwargs)


def _distinct_labels(attacks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label unlabelled entries of one attack id with different parameters by their parameters,
    e.g. ``pgd(loss=cw)``, so ``--attack pgd:Linf:8/255 --attack pgd:Linf:8/255:loss=cw`` is two columns."""
    by_id: dict[str, set[str]] = {}
    for a in attacks:
        by_id.setdefault(a["id"], set()).add(repr(sorted((a.get("params") or {}).items())))
    out = []
    for a in attacks:
        params = a.get("params") or {}
        if "label" not in a and len(by_id[a["id"]]) > 1 and params:
            shown = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
            a = {**a, "label": f"{a['id'].rsplit('/', 1)[-1]}({shown})"}
        out.append(a)
    return out
