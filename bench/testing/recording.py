"""A registry wrapper that notes what is asked of it: tests that a component comes from the registry."""
from __future__ import annotations

from typing import Any, Optional


class RecordingRegistry:
    """Answers like ``registry`` (default: the installed plugins') and records each ``(kind, id)`` asked.

    Give it to ``TaskInput(registry=...)`` and compare ``asked`` with the task's declared
    dependencies: a task that ran another plugin's component got it here.
    """

    def __init__(self, registry: Optional[Any] = None) -> None:
        if registry is None:
            from bench.registry import get_registry

            registry = get_registry()
        self.registry = registry
        self.asked: list[tuple[str, str]] = []

    def get(self, kind: str, ident: str) -> Any:
        self.asked.append((kind, ident))
        return self.registry.get(kind, ident)
