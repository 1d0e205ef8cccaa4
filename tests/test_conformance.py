"""Conformance over everything registered: every attack, defense and probe of every installed plugin.

New components are tested automatically as soon as their plugin is installed (the timm model
registry's approach): attacks stay in their threat model and are deterministic; defenses train
a tiny model deterministically; probes and tasks return their columns; attacks, probes and tasks
leave a model whose submodules are in a mixed state exactly as they found it.
"""
import pytest

from bench.cli.validate import check_entry
from bench.registry import get_registry
from bench.testing import conformance

REGISTRY = get_registry(fresh=True)


def entries(kind):
    return [pytest.param(e, id=e.qualified_id) for e in REGISTRY.entries(kind)]


@pytest.mark.parametrize("entry", [p for k in ("dataset", "model", "defense", "attack", "probe", "task", "suite")
                                   for p in entries(k)])
def test_validates(entry):
    assert check_entry(entry) == []


@pytest.mark.parametrize("entry", entries("attack"))
def test_attack_conformance(entry):
    conformance.check_attack(entry)


@pytest.mark.parametrize("entry", [e for e in entries("defense") if e.values[0].spec.trains])
def test_defense_conformance(entry):
    conformance.check_defense(entry)


def _fits_digits(model) -> bool:
    spec = model.spec
    return (spec.channels is None or 1 in spec.channels) and spec.min_size <= 8 and (spec.max_size or 8) >= 8


PAIRS = [pytest.param(d, m, id=f"{d.qualified_id}+{m.qualified_id}")
         for d in REGISTRY.entries("defense") if d.spec.trains
         for m in REGISTRY.entries("model") if _fits_digits(m)]


@pytest.mark.parametrize("defense,model", PAIRS)
def test_every_defense_trains_every_compatible_tiny_model(defense, model):
    """Deterministic one-epoch training of each registered model (its smoke config) by each defense."""
    cls = model.load()
    conformance.check_defense(defense, lambda shape, k: cls(shape, k, cls.smoke_config()))


@pytest.mark.parametrize("entry", entries("probe"))
def test_probe_conformance(entry):
    conformance.check_probe(entry)


@pytest.mark.parametrize("entry", entries("task"))
def test_task_conformance(entry):
    conformance.check_task(entry)


@pytest.mark.parametrize("entry", [e for e in entries("dataset") if e.values[0].spec.embedded])
def test_embedded_dataset_loads_in_range_with_a_stable_fingerprint(entry):
    """Real datasets need local files: tests/data exercises them on small files in the real formats."""
    impl = entry.load()
    a, b = impl()(), impl()()
    assert a.shape == tuple(entry.spec.shape) and a.num_classes == entry.spec.num_classes
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 16
