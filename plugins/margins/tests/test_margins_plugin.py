"""The plugin's specs and registration."""
from __future__ import annotations

import subprocess
import sys

from bench.registry import get_registry
from robarena_margins import plugin


def test_plugin_module_imports_no_torch():
    code = "import sys, robarena_margins.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_specs_and_registration():
    assert [s.name for s in plugin.robarena_defenses()] == ["spectral-clip"]
    entry = get_registry().get("defense", "margins/spectral-clip")
    assert entry.plugin.distribution == "robarena-margins" and entry.spec.paper.key == "P1"
    entry.load().Config()
