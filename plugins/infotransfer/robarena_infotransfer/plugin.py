"""The ``infotransfer`` plugin (P2): specs only, gathered from one module per area.

This module imports neither torch nor any implementation module.
"""
from __future__ import annotations

from bench.hookspecs import hookimpl
from robarena_infotransfer import specs_inversion, specs_probes, specs_tasks_suite, specs_transfer

_AREAS = (specs_probes, specs_transfer, specs_inversion, specs_tasks_suite)


def _gather(kind: str) -> list:
    return [spec for module in _AREAS for spec in getattr(module, kind, [])]


@hookimpl
def robarena_probes() -> list:
    return _gather("PROBES")


@hookimpl
def robarena_tasks() -> list:
    return _gather("TASKS")


@hookimpl
def robarena_suites() -> list:
    return _gather("SUITES")


@hookimpl
def robarena_claims() -> list:
    return _gather("CLAIMS")
