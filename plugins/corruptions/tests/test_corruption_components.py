"""The 15 corruptions as ``corruption`` components, and the ``corruptions-digits`` suite's plan."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from bench.api import Corruption
from bench.registry import get_registry
from robarena_corruptions import CORRUPTIONS, DETERMINISTIC, FAMILIES, corrupt
from robarena_corruptions import plugin


def test_the_spec_module_imports_no_torch():
    code = "import sys, robarena_corruptions.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_torch_free_tables_equal_the_implementation_tables():
    assert plugin.NAMES == CORRUPTIONS
    assert plugin.FAMILY == {n: family for family, names in FAMILIES.items() for n in names}
    assert plugin.DETERMINISTIC == DETERMINISTIC


def test_every_corruption_is_registered_with_its_family():
    entries = {e.spec.name: e for e in get_registry().entries("corruption") if e.plugin.name == "corruptions"}
    assert sorted(entries) == sorted(CORRUPTIONS)
    for name, e in entries.items():
        assert e.spec.family == plugin.FAMILY[name] and e.spec.deterministic == (name in DETERMINISTIC)
        assert e.qualified_id == f"corruptions/{name}" and e.spec.paper.key == "Hendrycks2019"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_component_is_its_corruption(name):
    impl = get_registry().get("corruption", f"corruptions/{name}").load()
    assert issubclass(impl, Corruption)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    got = impl()(x, 4, torch.Generator().manual_seed(7))
    want = corrupt(x, name, 4, torch.Generator().manual_seed(7))
    assert torch.equal(got, want)


def test_the_digits_suite_plans_70_cells_per_row_against_the_standard_row():
    from bench.runner.plan import build_plan
    from bench.runner.suite import resolve_suite

    registry = get_registry()
    plan = build_plan(resolve_suite("corruptions-digits", registry), registry)
    rows = [c.row_id for c in plan.train_cells]
    assert rows == ["digits/small-cnn/standard/seed0", "digits/small-cnn/pgd-at/seed0"] and not plan.dropped
    assert len(plan.corruption_cells) == 2 * 14 * 5  # defocus blur is the identity at 8x8: left out
    assert {c.baseline for c in plan.corruption_cells} == {"digits/small-cnn/standard/seed0"}
    labels = list(dict.fromkeys(c.corruption.label for c in plan.corruption_cells))
    assert sorted(labels) == sorted(set(CORRUPTIONS) - {"defocus_blur"}) and labels[:3] == list(FAMILIES["noise"])
    # the same training cells as the quick suite (same models, defenses and budget): shared in a store
    quick = build_plan(resolve_suite("quick", registry), registry)
    assert [c.train for c in quick.train_cells] == [c.train for c in plan.train_cells]
    assert [c.defense.kwargs for c in quick.train_cells] == [c.defense.kwargs for c in plan.train_cells]
