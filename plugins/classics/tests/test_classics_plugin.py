"""The plugin's specs, its registration, the quick suite, the models, and pinned defaults."""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
import torch

from bench.errors import UsageError
from bench.runner.suite import Suite, resolve_suite
from robarena_classics import plugin

EXPECTED = {
    "model": {"small-cnn", "linear"},
    "defense": {"standard", "pgd-at"},
    "attack": {"fgsm", "pgd"},
    "probe": {"margin", "generalization"},
    "suite": {"quick"},
}
HOOKS = {"model": plugin.robarena_models, "defense": plugin.robarena_defenses, "attack": plugin.robarena_attacks,
         "probe": plugin.robarena_probes, "suite": plugin.robarena_suites}


def installed() -> bool:
    return any(ep.name == "classics" for ep in metadata.entry_points(group="robarena.plugins"))


needs_install = pytest.mark.skipif(not installed(), reason="pip install -e plugins/classics to register the entry point")


def test_plugin_module_imports_no_torch():
    code = "import sys, robarena_classics.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_specs(kind):
    specs = HOOKS[kind]()
    assert EXPECTED[kind] <= {s.name for s in specs}  # the quick suite's components stay registered
    assert len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert spec.version and spec.summary
        if kind in ("defense", "attack", "probe"):
            assert spec.paper is not None and spec.paper.title and spec.paper.year and spec.paper.key


@pytest.mark.parametrize("kind", ["model", "defense", "attack", "probe"])
def test_targets_load_and_match_declared_capabilities(kind):
    from bench.registry import resolve_target

    for spec in HOOKS[kind]():
        impl = resolve_target(spec.target)
        impl.Config()  # every default config validates
        if kind == "attack":
            assert tuple(spec.norms) == tuple(impl.norms)
            assert spec.targeted == impl.supports_targeted and spec.untargeted == impl.supports_untargeted


@needs_install
def test_registry_discovers_the_plugin(robarena_registry):
    for kind, names in EXPECTED.items():
        assert {f"classics/{n}" for n in names} <= set(robarena_registry.ids(kind))
    entry = robarena_registry.get("attack", "classics/pgd")
    assert entry.plugin.distribution == "robarena-classics"


@needs_install
def test_quick_suite_resolves_and_its_params_validate(robarena_registry):
    suite = resolve_suite("classics/quick", robarena_registry)
    assert isinstance(suite, Suite) and suite.name == "quick"
    assert suite.seeds == [0] and suite.eval.n == 500
    assert [d.id for d in suite.datasets] == ["core/digits"] and suite.datasets[0].params == {}
    for kind, refs in [("model", suite.models), ("defense", suite.defenses), ("attack", suite.attacks),
                       ("probe", suite.probes)]:
        for ref in refs:
            impl = robarena_registry.get(kind, ref.id).load()
            impl.Config(**ref.params)
    threats = [t for a in suite.attacks for t in a.threats()]
    assert {(t.norm, t.eps) for t in threats} == {("Linf", 0.1)}
    pgd_at = next(d for d in suite.defenses if d.id == "classics/pgd-at")
    assert (pgd_at.params["norm"], pgd_at.params["eps"]) == ("Linf", 0.1)


def test_defaults_are_pinned_to_the_papers():
    from robarena_classics.attacks.fgsm import FGSM
    from robarena_classics.attacks.pgd import PGD
    from robarena_classics.defenses.pgd_at import PGDAT

    from bench.threat import ThreatModel

    p = PGD.Config()  # P0's evaluation: PGD-20, step eps / 4 (2/255 at 8/255), random start, one run
    assert (p.steps, p.step_size, p.random_start, p.restarts, p.loss) == (20, None, True, 1, "ce")
    assert p.absolute_step(ThreatModel(norm="Linf", eps="8/255")) == 2 / 255  # P0's value, float-equal
    assert p.absolute_step(ThreatModel(norm="L2", eps=0.5)) == 2.5 * 0.5 / 20  # Madry et al.'s L2 rule
    a = PGDAT.Config()  # P1 Appendix B.1: 10 steps of 2/255, random start (eps 8/255 default)
    assert (a.norm, a.eps, a.steps, a.step_size, a.random_start) == ("Linf", 8 / 255, 10, 2 / 255, True)
    assert FGSM.Config().model_dump() == {}


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (1, 28, 28), (2, 5, 7)])
def test_small_cnn_shapes(shape):
    from robarena_classics.models.small_cnn import SmallCNN

    model = SmallCNN(shape, 10, SmallCNN.Config(width=2))
    x = torch.rand(3, *shape)
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 128)
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == (1 if shape[1] >= 16 else 0)
    assert model.body[0].out_channels == 64 and model.body[2].out_channels == 128


def test_small_cnn_rejects_a_bad_shape():
    from robarena_classics.models.small_cnn import SmallCNN

    with pytest.raises(UsageError, match="input_shape"):
        SmallCNN((8, 8), 10)


def test_linear_classifier_features_are_the_flattened_input():
    from robarena_classics.models.linear import LinearClassifier

    model = LinearClassifier((2, 3, 3), 4)
    x = torch.rand(5, 2, 3, 3)
    assert torch.equal(model.features(x), x.flatten(1))
    torch.testing.assert_close(model(x), x.flatten(1) @ model.head.weight.T + model.head.bias)


@needs_install
def test_conformance_over_the_plugin(robarena_registry, robarena_conformance):
    """The core's conformance checks on every classics attack, defense and probe."""
    from robarena_classics.models.small_cnn import SmallCNN

    for entry in robarena_registry.entries("attack"):
        if entry.qualified_id.startswith("classics/"):
            robarena_conformance.check_attack(entry)
    for entry in robarena_registry.entries("defense"):
        if entry.qualified_id.startswith("classics/"):
            robarena_conformance.check_defense(entry)
            robarena_conformance.check_defense(entry, model_cls=SmallCNN)
    for entry in robarena_registry.entries("probe"):
        if entry.qualified_id.startswith("classics/"):
            robarena_conformance.check_probe(entry)
