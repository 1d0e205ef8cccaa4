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
    assert [s.name for s in plugin.robarena_defenses()] == ["spectral-clip", "fgsm-at"]
    entry = get_registry().get("defense", "margins/spectral-clip")
    assert entry.plugin.distribution == "robarena-margins" and entry.spec.paper.key == "P1"
    entry.load().Config()


def test_probe_specs_load_and_declare_their_columns():
    registry = get_registry()
    expected = {"confidence": (["mean_p_y", "median_p_y", "mean_loss", "median_loss", "frac_middle"], False),
                "margin-spread": (["std", "iqr", "mean_abs"], False),
                "layer-spectrum": (["log_spectral_complexity", "mean_sv_std", "max_spectral_norm", "n_layers"], False),
                "loss-variation": (["mean", "std"], False),
                "instance-margin": (["mean", "median", "frac_found"], True)}
    assert [s.name for s in plugin.robarena_probes()] == list(expected)
    for name, (columns, needs_attacks) in expected.items():
        entry = registry.get("probe", f"margins/{name}")
        assert entry.spec.columns == columns and entry.spec.needs_attacks is needs_attacks
        assert entry.spec.paper.key == "P1"
        entry.load().Config()
