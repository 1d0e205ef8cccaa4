"""The plugin's specs and registration."""
from __future__ import annotations

import subprocess
import sys

from bench.registry import get_registry
from robarena_certify import plugin


def test_plugin_module_imports_no_torch():
    code = "import sys, robarena_certify.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_specs_register_and_load():
    registry = get_registry()
    entry = registry.get("defense", "certify/gaussian-augment")
    assert entry.plugin.distribution == "robarena-certify" and entry.spec.paper.key == "Cohen2019"
    assert entry.load().Config().sigma == 0.25
    assert [s.name for s in plugin.robarena_probes()] == ["smoothing", "ibp"]
    smoothing = registry.get("probe", "certify/smoothing")
    assert smoothing.spec.columns == ["smoothed_accuracy", "abstain_rate", "mean_radius", "n"]
    cfg = smoothing.load().Config()
    assert (cfg.n0, cfg.n, cfg.alpha, cfg.sigma) == (100, 100_000, 0.001, 0.25)
    ibp = registry.get("probe", "certify/ibp")
    assert ibp.spec.paper.key == "Gowal2018" and [e.display for e in ibp.load().Config().eps] == ["1/255", "2/255", "8/255"]
