"""The paper suites' dataset settings in docs/datasets.md parse as suites and validate against the datasets."""
import re
from pathlib import Path

import pytest

from bench._compat import tomllib
from bench.registry import get_registry
from bench.runner.plan import validate_params
from bench.runner.suite import suite_from_dict

DOC = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"
BLOCKS = [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)]
SUITES = {b["name"]: b for b in BLOCKS if "name" in b}
REGISTRY = get_registry(fresh=True)


def shape_of(ref: dict) -> tuple:
    entry = REGISTRY.get("dataset", ref["id"])
    params = dict(validate_params(entry, ref.get("params", {})))  # raises on an unknown or invalid parameter
    impl = entry.load()
    return impl.output_shape(impl.Config(**params)) if hasattr(impl, "output_shape") else tuple(entry.spec.shape)


def test_the_page_holds_the_expected_examples():
    assert set(SUITES) == {"p1-tiny-imagenet", "p4-mnist"}
    assert any("targets" in b for b in BLOCKS)


@pytest.mark.parametrize("name", sorted(SUITES))
def test_suite_examples_parse_and_their_datasets_validate(name):
    suite = suite_from_dict(SUITES[name], where=name)
    for ref in suite.datasets:
        shape_of(ref.model_dump())


def test_p1_tiny_imagenet_is_56x56_with_scale_and_aspect_augmentation():
    suite = suite_from_dict(SUITES["p1-tiny-imagenet"])
    assert shape_of(suite.datasets[0].model_dump()) == (3, 56, 56)
    # P1 D.1: "scale, aspect ratio augmentation as well as scale jittering" (no flip named)
    assert suite.train.augment == ["resized_crop"]
    assert (suite.train.epochs, suite.train.batch_size, suite.train.lr) == (90, 256, 0.1)


def test_p4_uses_native_28x28_grey_without_augmentation():
    suite = suite_from_dict(SUITES["p4-mnist"])
    assert [r.id for r in suite.datasets] == ["core/mnist", "core/fashion-mnist"]
    assert all(shape_of(r.model_dump()) == (1, 28, 28) for r in suite.datasets)
    assert suite.train.augment == [] and suite.train.optimizer == "adam" and suite.train.batch_size == 250


def test_p2_targets_are_rgb_32x32_like_the_cifar_source():
    block = next(b for b in BLOCKS if "targets" in b)
    assert [t["id"] for t in block["targets"]] == ["core/cifar100", "core/fashion-mnist", "core/mnist", "core/svhn"]
    for ref in block["targets"] + block["embedded_targets"]:
        assert shape_of(ref) == (3, 32, 32)
