"""``@bench.model_factory``: mark a function or ``nn.Module`` class as callable from suites.

A suite (or ``robarena eval --arch``) may name ``package.module:factory``; robarena calls it only
if its author marked it with this decorator, declared it in the ``robarena.model_factories``
entry-point group, or the user trusts its module (``--trust-module``). Torch-free on purpose.
"""
from __future__ import annotations

from typing import TypeVar

MARKER = "__robarena_model_factory__"
ENTRY_POINT_GROUP = "robarena.model_factories"

F = TypeVar("F")


def model_factory(obj: F) -> F:
    """Mark ``obj`` (a function returning an ``nn.Module``, or an ``nn.Module`` class) as a model
    factory that suites may call as ``module:name`` with ``arch_params``. Only sets an attribute."""
    setattr(obj, MARKER, True)
    return obj


def is_marked(obj: object) -> bool:
    """Whether ``obj`` itself (not a base class it inherits from) carries the marker."""
    return getattr(obj, "__dict__", {}).get(MARKER) is True
