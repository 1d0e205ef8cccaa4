"""Shared fixtures for robarena's core tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTKIT = Path(__file__).parent / "testkit"


@pytest.fixture
def testkit(monkeypatch):
    """``-p`` options that load the core's test plugin (and nothing else)."""
    monkeypatch.syspath_prepend(str(TESTKIT))
    monkeypatch.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")
    from bench.registry import _CACHE

    _CACHE.clear()
    yield ("robarena_testkit",)
    _CACHE.clear()
    for mod in ("robarena_testkit", "robarena_testkit_impl"):
        sys.modules.pop(mod, None)
