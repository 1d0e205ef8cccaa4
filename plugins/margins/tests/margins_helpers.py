"""Test helpers: other plugins' components come from the registry, never from their packages."""
from __future__ import annotations

from typing import Any

from bench.registry import get_registry


def registered(kind: str, ident: str) -> Any:
    """The implementation class of the registered ``kind`` ``ident`` (e.g. ``"model", "classics/linear"``)."""
    return get_registry().get(kind, ident).load()
