"""robarena core: contracts, registry, runner, store and leaderboard.

``import bench`` is cheap on purpose: it imports neither torch nor any plugin and
scans no entry points. Discovery happens when a command or :func:`bench.run` needs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from bench.runner.api import RunResult


def run(suite: Any, **kwargs: Any) -> "RunResult":
    """Run a suite (a name, a path to a TOML file, a dict or a Suite) and return its results.

    Mirrors ``robarena run``; see :func:`bench.runner.api.run` for the keyword arguments.
    ``bench.run("quick").to_pandas()`` gives one row per trained model.
    """
    from bench.runner.api import run as _run

    return _run(suite, **kwargs)


def evaluate(**kwargs: Any) -> "RunResult":
    """Evaluate an already-trained model (mirrors ``robarena eval``); see :func:`bench.runner.api.evaluate`."""
    from bench.runner.api import evaluate as _evaluate

    return _evaluate(**kwargs)


__all__ = ["__version__", "run", "evaluate"]


def __getattr__(name: str) -> Any:
    # ``bench.hookimpl`` is what plugin modules import; resolved lazily (pluggy is light).
    if name == "hookimpl":
        from bench.hookspecs import hookimpl

        return hookimpl
    if name == "model_factory":  # the decorator that lets suites call a user's module:factory
        from bench.factory import model_factory

        return model_factory
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
