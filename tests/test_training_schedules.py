"""Learning-rate schedules (bench.api.training.lr_at) against their definitions, and the papers'
schedules pinned in the full-scale suites."""
import math

import pytest
from pydantic import ValidationError

from bench.api.training import lr_at
from bench.config import TrainConfig


def test_step_default_decays_once_at_half_of_training():
    train = TrainConfig(epochs=10, lr=0.5, schedule="step")
    for k in range(1000):
        progress = k / 1000
        assert lr_at(train, progress) == (0.5 if progress < 0.5 else 0.5 * 0.1)


@pytest.mark.parametrize("epochs, milestones, spe", [(200, [100, 150], 196), (160, [80, 120], 391), (90, [30, 60], 7)])
def test_step_milestones_decay_exactly_at_those_epochs(epochs, milestones, spe):
    """Per-step schedule, ``progress = step / total``: the lr drops at the first step of each milestone epoch."""
    train = TrainConfig(epochs=epochs, lr=0.1, schedule="step", milestones=milestones, gamma=0.1)
    total = epochs * spe
    for step in range(total):
        epoch = step // spe
        expected = 0.1 * 0.1 ** sum(epoch >= m for m in milestones)
        assert lr_at(train, step / total) == pytest.approx(expected, rel=1e-12), (step, epoch)


def test_cyclic_peak_epoch():
    """P3 Sec. 4.1: the lr rises for 7 epochs to 0.2 and falls to 0 over the remaining 8 of 15."""
    train = TrainConfig(epochs=15, lr=0.2, schedule="cyclic", cyclic_peak_epoch=7)
    assert lr_at(train, 0.0) == 0.0
    assert lr_at(train, 7 / 15) == pytest.approx(0.2)
    assert lr_at(train, 3.5 / 15) == pytest.approx(0.1)
    assert lr_at(train, 11 / 15) == pytest.approx(0.1)
    default = TrainConfig(epochs=15, lr=0.2, schedule="cyclic")
    assert lr_at(default, 0.4) == pytest.approx(0.2) and lr_at(default, 0.2) == pytest.approx(0.1)


def test_cosine_and_constant():
    cos = TrainConfig(lr=0.3, schedule="cosine")
    assert [lr_at(cos, p) for p in (0.0, 0.5)] == [pytest.approx(0.3), pytest.approx(0.15)]
    assert lr_at(cos, 0.25) == pytest.approx(0.15 * (1 + math.cos(math.pi / 4)))
    assert lr_at(TrainConfig(lr=0.3, schedule="constant"), 0.9) == 0.3


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=10, milestones=[5, 20]), "must lie in 1..9"),
    (dict(epochs=10, milestones=[0, 5]), "must lie in 1..9"),
    (dict(epochs=10, milestones=[6, 4]), "strictly increasing"),
    (dict(epochs=15, cyclic_peak_epoch=15), "must be below epochs"),
    (dict(gamma=0.0), "greater than 0"),
])
def test_schedule_errors_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        TrainConfig(**kwargs)


def test_cache_key_fields_unchanged_at_defaults():
    """Trainings stored before milestones/gamma/cyclic_peak_epoch existed keep their keys."""
    old_fields = {"epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "augment",
                  "crop_padding"}
    assert set(TrainConfig().key_dict()) == old_fields
    assert TrainConfig(milestones=[3]).key_dict()["milestones"] == [3]
    assert TrainConfig(cyclic_peak_epoch=2).key_dict()["cyclic_peak_epoch"] == 2
    assert TrainConfig(gamma=0.5).key_dict()["gamma"] == 0.5


@pytest.mark.parametrize("suite, schedule, milestones, peak", [
    ("p0-full", "step", [80, 120], None),          # P0 Sec. 5: 10x decay at epochs 80 and 120 of 160
    ("p0-full-resnet", "step", [80, 120], None),
    ("p1-full", "step", [100, 150], None),         # P1 D.3: divided by 10 at 100 and 150 of 200
    ("p1-full-sn", "step", [100, 150], None),
    ("p1-full-fgsm", "step", [100, 150], None),
    ("p1-full-tiny", "step", [30, 60], None),      # P1 D.2: at 30 and 60 of 90
    ("p2-full", "step", [50, 100], None),          # robustness library CIFAR recipe: every 50 of 150
    ("p3-full", "cyclic", [], 7),                  # P3 Sec. 4.1: rises for 7 of 15 epochs
])
def test_full_suites_pin_the_papers_schedules(suite, schedule, milestones, peak):
    from bench.registry import get_registry
    from bench.runner.suite import resolve_suite

    s = resolve_suite(suite, get_registry())
    assert (s.train.schedule, s.train.milestones, s.train.cyclic_peak_epoch) == (schedule, milestones, peak)
