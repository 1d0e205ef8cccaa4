"""``robarena run SUITE --explain``: for every cell, whether it would be reused or recomputed, and why.

A cell is reused when a stored ok record under its cache key verifies. Otherwise the reason is
found by comparing what the key is made of now (``Stage.key_parts``) with the parts stored beside
the newest earlier record of the same cell (same stage and cell id): the fields that differ — a
component's code fingerprint after an edit, a version, a parameter, the upstream training's key.
Nothing is computed or written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

from bench.runner.context import RunContext
from bench.runner.plan import CleanCell, Plan

MAX_SHOWN = 4


@dataclass(frozen=True)
class Explanation:
    cell_id: str
    stage: str
    action: str  # "reuse" or "compute"
    reason: str


def changed_fields(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths where two key-part trees differ, e.g. ``attack.code: 1a2b -> 3c4d``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for name in sorted(set(old) | set(new)):
            where = f"{path}.{name}" if path else str(name)
            if name not in old:
                out.append(f"{where}: added")
            elif name not in new:
                out.append(f"{where}: removed")
            else:
                out += changed_fields(old[name], new[name], where)
        return out
    if old != new:
        show = (lambda v: f"{v}"[:40])  # noqa: E731 (keys, versions and numbers: short enough to print)
        return [f"{path or '(value)'}: {show(old)} -> {show(new)}"]
    return []


def _why_missing(ctx: RunContext, stage: Any, key: str, cell: Any, earlier: dict[tuple[str, str], dict]) -> str:
    stored = ctx.store.get_cell(key, on_mismatch="missing")
    if stored is not None:
        if stored["status"] != "ok":
            return f"its stored result failed ({(stored.get('error') or '')[:80]})"
        return "its stored artifacts are missing or damaged"
    before = earlier.get((stage.name, stage.cell_id(cell)))
    if before is None:
        return "never computed in this work directory"
    old_parts = before["meta"].get("key_parts")
    if old_parts is None:
        return "its key changed (the earlier record predates stored key parts)"
    diffs = changed_fields(old_parts, stage.key_parts(ctx, cell))
    if not diffs:
        return "its key changed (core version)"
    more = f" (+{len(diffs) - MAX_SHOWN} more)" if len(diffs) > MAX_SHOWN else ""
    return "changed: " + "; ".join(diffs[:MAX_SHOWN]) + more


def _earlier_records(ctx: RunContext) -> dict[tuple[str, str], dict]:
    """The newest stored record per (stage, cell id)."""
    newest: dict[tuple[str, str], dict] = {}
    for _key, cell_id, rec, _problem in ctx.store.iter_cells():
        if rec is None:
            continue
        slot = (rec["stage"], cell_id)
        if slot not in newest or rec["created"] >= newest[slot]["created"]:
            newest[slot] = rec
    return newest


def explain_plan(plan: Plan, ctx: RunContext) -> list[Explanation]:
    """One explanation per cell of ``plan``, in run order."""
    from bench.runner.stages import lookup, stage_for

    earlier = _earlier_records(ctx)
    out = []
    for train in plan.train_cells:
        attacks, probes, tasks = plan.for_train(train)
        for cell in [train, CleanCell(train), *attacks, *probes, *tasks, *plan.corruptions_for(train)]:
            stage = stage_for(cell)
            try:
                key = stage.key(ctx, cell)
            except Exception as exc:  # e.g. the dataset cannot be loaded: the run would fail this cell
                out.append(Explanation(stage.cell_id(cell), stage.name, "compute",
                                       f"cannot derive its key: {type(exc).__name__}: {exc}"))
                continue
            if lookup(ctx, cell) is not None:
                out.append(Explanation(stage.cell_id(cell), stage.name, "reuse", f"stored result {key[:12]} verifies"))
            else:
                out.append(Explanation(stage.cell_id(cell), stage.name, "compute",
                                       _why_missing(ctx, stage, key, cell, earlier)))
    return out


def explain(suite: Union[str, Path, dict], workdir: Union[str, Path] = ".robarena", device: str = "auto",
            plugins: Iterable[str] = (), trust_modules: Iterable[str] = (), **options: Any) -> list[Explanation]:
    """Build the suite's plan as ``run`` does (same checks, same trusted modules) and explain each cell
    against ``workdir``; nothing is computed or stored."""
    from bench.registry import get_registry
    from bench.runner.models import trusting
    from bench.runner.plan import build_plan
    from bench.runner.preflight import check_plan
    from bench.runner.suite import resolve_suite

    registry = get_registry(tuple(plugins))
    suite_obj = resolve_suite(suite, registry)
    with trusting(list(trust_modules)):
        plan = build_plan(suite_obj, registry)
        check_plan(plan, registry)
        return _explain_with_context(plan, registry, suite_obj, workdir, device, options)


def _explain_with_context(plan: Plan, registry: Any, suite_obj: Any, workdir: Union[str, Path], device: str,
                          options: dict[str, Any]) -> list[Explanation]:
    from bench.runner.context import resolve_device

    ctx = RunContext(registry=registry, workdir=Path(workdir), device=resolve_device(device), progress=False,
                     eval_n=suite_obj.eval.n, eval_batch=suite_obj.eval.batch_size,
                     amp=bool(options.get("amp")), channels_last=bool(options.get("channels_last")),
                     compile=options.get("compile"))
    try:
        return explain_plan(plan, ctx)
    finally:
        ctx.close()


def format_explanations(items: list[Explanation]) -> str:
    from tabulate import tabulate

    reuse = sum(e.action == "reuse" for e in items)
    table = tabulate([[e.action, e.cell_id, e.reason] for e in items], headers=["action", "cell", "why"],
                     tablefmt="simple")
    return f"{table}\n\n{reuse} cell(s) reused, {len(items) - reuse} to compute"
