"""The plugin's specs and registration, and the defenses suite's contents."""
from __future__ import annotations

import subprocess
import sys

from bench.registry import get_registry
from bench.runner.suite import resolve_suite
from robarena_recognizability import plugin


def test_plugin_module_imports_no_torch():
    code = "import sys, robarena_recognizability.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_specs_and_registration():
    assert {s.name for s in plugin.robarena_defenses()} == {"gradient-penalty", "fisher-penalty", "distillation"}
    assert {s.name for s in plugin.robarena_suites()} == {"defenses", "p3-cpu", "p3-full"}
    assert {s.name for s in plugin.robarena_probes()} == {"jacobian"}
    assert {s.name for s in plugin.robarena_tasks()} == {"recognizability"}
    assert {c.suite for c in plugin.robarena_claims()} == {"p3-cpu", "p3-full"}
    registry = get_registry()
    entry = registry.get("defense", "recognizability/fisher-penalty")
    assert entry.plugin.distribution == "robarena-recognizability"
    for spec in plugin.robarena_defenses():
        assert spec.paper is not None and spec.summary
        registry.get("defense", f"recognizability/{spec.name}").load().Config()


def test_defenses_suite_holds_p3s_line_up_at_linf_0_1():
    registry = get_registry()
    suite = resolve_suite("recognizability/defenses", registry)
    assert suite.name == "defenses" and [d.id for d in suite.datasets] == ["core/digits"]
    labels = [d.label or d.id.split("/")[1] for d in suite.defenses]
    assert labels == ["standard", "pgd-at", "trades-b6", "trades-b10000", "fast-at", "gradient-penalty-b64",
                      "gradient-penalty-b1", "fisher-penalty", "distillation"]
    for ref in suite.defenses:
        config = registry.get("defense", ref.id).load().Config(**ref.params)
        if hasattr(config, "eps"):
            assert config.eps == 0.1
    betas = {d.label: d.params["beta"] for d in suite.defenses if d.id == "classics/trades"}
    assert betas == {"trades-b6": 6.0, "trades-b10000": 10000.0}
    losses = sorted(a.params.get("loss") for a in suite.attacks if a.id == "classics/pgd")
    assert losses == ["ce", "cw"]
    assert {(t.norm, t.eps) for a in suite.attacks for t in a.threats()} == {("Linf", 0.1)}
