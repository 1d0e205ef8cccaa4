"""Every robarena hook. The signature and docstring of each hook *is* its contract.

A plugin is a module (or object) with functions marked ``@bench.hookimpl`` whose names
match the hooks below. Registration hooks return lists of specs (see :mod:`bench.specs`)
and must not import torch at call time: a spec names its implementation lazily as
``"module:attr"``. Hooks only ever grow by gaining arguments, and an implementation may
accept fewer arguments than its hook declares, so old plugins keep working.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from bench import specs

PROJECT = "robarena"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# --------------------------------------------------------------------------- registration


@hookspec
def robarena_datasets() -> "list[specs.DatasetSpec]":
    """Return the datasets this plugin provides (implementations subclass ``bench.api.Dataset``)."""


@hookspec
def robarena_models() -> "list[specs.ModelSpec]":
    """Return the architectures this plugin provides (factories returning ``bench.api.Classifier``)."""


@hookspec
def robarena_defenses() -> "list[specs.DefenseSpec]":
    """Return the training recipes / model wrappers this plugin provides (``bench.api.Defense``)."""


@hookspec
def robarena_attacks() -> "list[specs.AttackSpec]":
    """Return the attacks this plugin provides (``bench.api.Attack``)."""


@hookspec
def robarena_probes() -> "list[specs.ProbeSpec]":
    """Return the probes (diagnostics) this plugin provides (``bench.api.Probe``)."""


@hookspec
def robarena_tasks() -> "list[specs.TaskSpec]":
    """Return the per-model tasks this plugin provides (``bench.api.Task``)."""


@hookspec
def robarena_corruptions() -> "list[specs.CorruptionSpec]":
    """Return the common corruptions this plugin provides (``bench.api.Corruption``)."""


@hookspec
def robarena_suites() -> "list[specs.SuiteSpec]":
    """Return the named suites this plugin ships (TOML resources inside its package)."""


@hookspec
def robarena_claims() -> "list[specs.ClaimSpec]":
    """Return executable qualitative claims over a suite's results."""


# --------------------------------------------------------------------------- lifecycle


@hookspec
def robarena_run_start(suite: Any, plan: Any, workdir: str) -> None:
    """Called once before the first cell of a run executes (loggers, exporters)."""


@hookspec
def robarena_cell_finished(cell: Any, record: dict) -> None:
    """Called after every cell (including cached and failed ones) with its stored record."""


@hookspec
def robarena_run_finished(result: Any) -> None:
    """Called once when a run ends, with the :class:`bench.runner.api.RunResult`."""


REGISTRATION_HOOKS = {
    "dataset": "robarena_datasets",
    "model": "robarena_models",
    "defense": "robarena_defenses",
    "attack": "robarena_attacks",
    "probe": "robarena_probes",
    "task": "robarena_tasks",
    "corruption": "robarena_corruptions",
    "suite": "robarena_suites",
    "claim": "robarena_claims",
}
