"""Checks made after planning and before a run is recorded: setup errors are one message, exit 2.

Without them a missing data root, an unknown ``--arch``, a refused or unimportable
``module:factory`` or a checkpoint that is not a weights-only file would fail every cell that
depends on it, each printing the same error, and the failed run would become the suite's
latest. Checked here, for every ``[[pretrained]]`` entry and every dataset of the plan:

* the architecture: a registered model id (with valid ``arch_params``, no ``mean``/``std``),
  ``timm/<name>`` that timm knows, or a ``module:factory`` the factory policy allows
  (:func:`bench.runner.models.resolve_factory`; imports the module);
* the checkpoint: a readable safetensors or weights-only torch file holding tensors; where the
  dataset's shape and class count are known without reading it, that it fits the architecture;
* each dataset's ``preflight()`` where it has one (real datasets: the data root, the expected
  files, a ``test_ids`` file), unless ``local_data`` is False (a remote Ray cluster's paths).

Nothing is decoded: real datasets are read by the run itself.
"""
from __future__ import annotations

from typing import Optional

from bench.errors import RobarenaError, UsageError
from bench.registry import Registry
from bench.runner.plan import Component, Plan, TrainCell, dataset_shape, validate_params
from bench.runner.suite import PretrainedRef


class PreflightError(UsageError):
    """A suite that cannot run: nothing was computed or recorded."""


def check_plan(plan: Plan, registry: Registry, local_data: bool = True) -> None:
    """Raise :class:`PreflightError` listing every setup problem of ``plan`` (exit 2)."""
    problems: list[str] = []
    seen: set[int] = set()
    for cell in plan.train_cells:
        if cell.pretrained is not None and id(cell.pretrained) not in seen:
            seen.add(id(cell.pretrained))
            problems += _pretrained(cell, cell.pretrained, registry)
    if local_data:
        checked: set[tuple] = set()
        for comp in [c.dataset for c in plan.train_cells]:
            key = (comp.qid, repr(comp.params))
            if key not in checked:
                checked.add(key)
                problems += _dataset(comp)
    if len(problems) == 1:
        raise PreflightError(problems[0])
    if problems:
        raise PreflightError(f"{len(problems)} problems, nothing was run:\n" + "\n".join(f"  - {p}" for p in problems))


def _dataset(comp: Component) -> list[str]:
    impl = comp.entry.load()
    if not hasattr(impl, "preflight"):
        return []
    try:
        impl(impl.Config(**comp.kwargs)).preflight()
    except RobarenaError as exc:
        return [f"dataset {comp.label!r}: {exc}"]
    return []


def _pretrained(cell: TrainCell, pre: PretrainedRef, registry: Registry) -> list[str]:
    where = f"pretrained model {pre.label!r}"
    try:
        _check_arch(pre.arch, pre.arch_params, pre.mean, pre.std, registry)
    except RobarenaError as exc:
        return [f"{where}: {exc}"]
    from bench.runner.models import load_state

    try:
        state = load_state(pre.checkpoint)
        _check_fits(cell.dataset, pre, registry, state)
    except RobarenaError as exc:
        return [f"{where}: {exc}"]
    return []


def _check_arch(arch: str, params: dict, mean: Optional[list], std: Optional[list], registry: Registry) -> None:
    from bench.runner.models import _TIMM_LOADING_PARAMS, resolve_factory

    if arch.startswith("timm/"):
        import timm

        if _TIMM_LOADING_PARAMS & set(params):
            raise UsageError(f"arch_params {sorted(_TIMM_LOADING_PARAMS & set(params))} would make timm load weights; "
                             "give the weights as the entry's checkpoint (safetensors or weights-only) instead")
        if not timm.is_model(arch[len("timm/"):]):
            raise UsageError(f"timm has no architecture {arch[len('timm/'):]!r}; see timm.list_models()")
    elif ":" in arch:
        resolve_factory(arch)
    else:
        entry = registry.get("model", arch)
        validate_params(entry, params)
        if mean is not None or std is not None:
            raise UsageError("mean/std apply to timm or module:factory architectures; registered models normalize "
                             "inside")


def _check_fits(ds: Component, pre: PretrainedRef, registry: Registry, state: dict) -> None:
    """Build the architecture and load ``state`` when the input shape and classes are known from specs."""
    import torch

    from bench.runner.models import build_arch, load_into

    impl = ds.entry.load()
    exact = ds.entry.spec.embedded or getattr(impl, "native_shape", None) is not None
    shape = dataset_shape(ds) if exact else None
    if shape is None:  # e.g. an ImageFolder: classes and size come from its files; the run checks it
        return
    with torch.random.fork_rng(devices=[]):
        try:
            model = build_arch(pre.arch, registry, shape, ds.entry.spec.num_classes, pre.arch_params, pre.mean, pre.std)
        except RobarenaError:
            raise
        except Exception as exc:  # the user's factory or timm rejected arch_params
            raise UsageError(f"building {pre.arch!r} with arch_params {pre.arch_params} raised "
                             f"{type(exc).__name__}: {exc}") from None
    load_into(model, state, pre.checkpoint)
