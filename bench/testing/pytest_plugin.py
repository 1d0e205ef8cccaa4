"""pytest fixtures robarena ships for plugin authors (registered through the ``pytest11`` entry point).

Kept import-light: torch and the registry load only when a fixture is used.
"""
from __future__ import annotations

import pytest


@pytest.fixture
def robarena_registry():
    """The registry with every installed plugin (fresh for each test)."""
    from bench.registry import get_registry

    return get_registry(fresh=True)


@pytest.fixture
def tiny_batch():
    """``(x, y)``: 8 uniform (1, 8, 8) images in [0, 1] and labels in 0..9."""
    from bench.testing.tiny import tiny_batch as make

    return make()


@pytest.fixture
def tiny_linear():
    """An affine classifier on (1, 8, 8) inputs, 10 classes (closed-form gradients)."""
    from bench.testing.tiny import TinyLinear

    return TinyLinear((1, 8, 8), 10)


@pytest.fixture
def robarena_conformance():
    """The module :mod:`bench.testing.conformance` (``check_attack``, ``check_defense``, ``check_probe``, ``check_task``)."""
    from bench.testing import conformance

    return conformance
