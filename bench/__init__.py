"""robarena core: contracts, registry, runner, store and leaderboard.

``import bench`` is cheap on purpose: it imports neither torch nor any plugin and
scans no entry points. Discovery happens when a command or :func:`bench.run` needs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator

    import pandas as pd
    from torch import nn

    from bench.rows.schema import Row
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


def load_model(row: Any, suite: Any = None, workdir: Any = ".robarena", device: str = "cpu",
               plugins: Any = (), trust_modules: Any = ()) -> "nn.Module":
    """The trained model of a stored row, in eval mode: ``bench.load_model("pgd-at", suite="quick")``.

    ``row``: a row id, a unique substring of one, or a Row; the latest finished run of ``suite`` in
    ``workdir`` is read (nothing is trained). See :func:`bench.runner.restore.load_model`.
    """
    from bench.runner.restore import load_model as _load_model

    return _load_model(row, suite=suite, workdir=workdir, device=device, plugins=plugins,
                       trust_modules=trust_modules)


def results(suite: Any = None, workdir: Any = ".robarena", provenance: bool = True) -> "pd.DataFrame":
    """The stored rows of the latest finished run of ``suite`` as a DataFrame (as ``to_pandas()``), without re-running."""
    from bench.runner.stored import results as _results

    return _results(suite, workdir=workdir, provenance=provenance)


def load_rows(suite: Any = None, workdir: Any = ".robarena") -> "list[Row]":
    """The stored rows (:class:`bench.rows.schema.Row`) of the latest finished run of ``suite``, without re-running."""
    from bench.runner.stored import load_rows as _load_rows

    return _load_rows(suite, workdir=workdir)


def examples(suite: Any = None, row: Any = None, workdir: Any = ".robarena", margins: bool = True,
             device: str = "cpu", batch_size: int = 256, plugins: Any = (),
             trust_modules: Any = ()) -> "Iterator[dict]":
    """Per-example outcomes of a stored run, one dict per (row, example); see :mod:`bench.runner.examples`."""
    from bench.runner.examples import examples as _examples

    return _examples(suite, row, workdir=workdir, margins=margins, device=device, batch_size=batch_size,
                     plugins=plugins, trust_modules=trust_modules)


def export_examples(out: Any, suite: Any = None, row: Any = None, workdir: Any = ".robarena", margins: bool = True,
                    device: str = "cpu", batch_size: int = 256, plugins: Any = (), trust_modules: Any = ()) -> int:
    """Write :func:`examples` as JSON lines to ``out`` (``"-"``: standard output); returns the number of lines."""
    from bench.runner.examples import export_examples as _export

    return _export(out, suite, row, workdir=workdir, margins=margins, device=device, batch_size=batch_size,
                   plugins=plugins, trust_modules=trust_modules)


def size_curves(suite: Any = None, workdir: Any = ".robarena", attack: Any = None, eps: Any = None,
                level: float = 0.95) -> "pd.DataFrame":
    """Accuracy against perturbation size per (row, eps) from the stored per-example distances of
    ``attack`` (its label, e.g. ``"FGSM search w"``); no model is rebuilt. See :mod:`bench.runner.size_curves`."""
    from bench.runner.size_curves import size_curves as _size_curves

    return _size_curves(suite, workdir=workdir, attack=attack, eps=eps, level=level)


__all__ = ["__version__", "run", "evaluate", "load_model", "results", "load_rows", "examples", "export_examples",
           "size_curves"]


def __getattr__(name: str) -> Any:
    # ``bench.hookimpl`` is what plugin modules import; resolved lazily (pluggy is light).
    if name == "hookimpl":
        from bench.hookspecs import hookimpl

        return hookimpl
    if name == "model_factory":  # the decorator that lets suites call a user's module:factory
        from bench.factory import model_factory

        return model_factory
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
