"""Per-model training overrides: suite [train] < the model's `train` < the defense's `train`."""
import pytest
from runner_helpers import tiny_suite

from bench.errors import ConfigError
from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite


def plan_of(suite, testkit):
    registry = get_registry(testkit)
    return build_plan(resolve_suite(suite, registry), registry)


def test_model_overrides_apply_to_that_model_and_defense_overrides_win(testkit):
    suite = tiny_suite(models=[{"id": "tiny-linear", "label": "a", "train": {"lr": 0.01, "epochs": 2}},
                               {"id": "tiny-linear", "label": "b"}],
                       defenses=[{"id": "erm"}, {"id": "erm", "label": "erm-fast", "train": {"lr": 0.5}}],
                       train={"epochs": 3, "batch_size": 32, "lr": 0.1})
    budgets = {(c.model.label, c.defense.label): (c.train.lr, c.train.epochs, c.train.batch_size)
               for c in plan_of(suite, testkit).train_cells}
    assert budgets == {("a", "erm"): (0.01, 2, 32), ("a", "erm-fast"): (0.5, 2, 32),
                       ("b", "erm"): (0.1, 3, 32), ("b", "erm-fast"): (0.5, 3, 32)}


def test_invalid_model_override_names_model_and_defense(testkit):
    suite = tiny_suite(models=[{"id": "tiny-linear", "train": {"lr": -1}}])
    with pytest.raises(ConfigError, match="model 'tiny-linear' x defense 'erm': invalid train overrides"):
        plan_of(suite, testkit)


def test_unknown_override_key_is_refused(testkit):
    suite = tiny_suite(models=[{"id": "tiny-linear", "train": {"learning_rate": 0.1}}])
    with pytest.raises(ConfigError, match="learning_rate"):
        plan_of(suite, testkit)
