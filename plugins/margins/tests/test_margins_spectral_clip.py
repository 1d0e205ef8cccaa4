"""The spectral-clip defense: every layer within the bound after training, base training unchanged without it."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.api import Classifier, TrainConfig, TrainContext
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from bench.testing.tiny import TinyConv
from robarena_margins.defenses.spectral_clip import P1_BOUNDS, SpectralClip, SpectralClipConfig
from robarena_margins.spectral import conv_input_sizes, layer_spectral_norms
from margins_helpers import registered


@pytest.fixture(scope="module")
def data():
    from bench.data.digits import Digits

    return Digits(Digits.Config(n_train=96, n_test=8))()


def ctx(seed=0):
    return TrainContext(device=torch.device("cpu"), seed=seed, generator=torch.Generator().manual_seed(seed))


def test_defaults_are_p1s():
    cfg = SpectralClipConfig()
    assert cfg.bound == 1.0 and cfg.base == "pgd-at" and cfg.grid == "input"
    assert (cfg.norm, cfg.eps, cfg.steps, cfg.step_size, cfg.random_start) == ("Linf", 8 / 255, 10, 2 / 255, True)
    assert P1_BOUNDS == (1.0, 3.0, 5.0, None)


class SmallNet(Classifier):
    """Two convolutions (the second strided), a hidden linear layer and the head: every clipped kind."""

    def __init__(self, input_shape, num_classes, config=None):
        super().__init__(input_shape, num_classes, config)
        c, h, w = input_shape
        self.body = nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1, stride=2),
                                  nn.ReLU(), nn.Flatten(), nn.Linear(6 * ((h + 1) // 2) * ((w + 1) // 2), 16),
                                  nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def extract(self, z):
        return self.body(z)


@pytest.mark.parametrize("bound, grid", [(1.0, "input"), (0.5, "padded")])
def test_every_layer_is_within_the_bound_after_training(data, bound, grid):
    c = ctx()
    cfg = SpectralClipConfig(bound=bound, base="standard", grid=grid)
    model = SpectralClip(cfg, TrainConfig(epochs=2, batch_size=32, lr=0.1))(
        lambda: SmallNet(data.shape, data.num_classes), data, c)
    sizes = conv_input_sizes(model, data.x_train[:1])
    assert sizes == {"body.0": (8, 8), "body.2": (8, 8)}
    norms = layer_spectral_norms(model, sizes, grid)
    assert set(norms) == {"body.0", "body.2", "body.5", "head"}
    assert all(v <= bound + 1e-4 for v in norms.values()), norms
    before = c.log["spectral_norms"]  # the largest singular values each epoch, before the clip
    assert set(before) == set(norms) and all(len(v) == 2 for v in before.values())
    assert max(max(v) for v in before.values()) > bound, "the clip was exercised"


class TinyConvWithSpare(TinyConv):
    def __init__(self, input_shape, num_classes, config=None):
        super().__init__(input_shape, num_classes, config)
        self.spare = nn.Conv2d(1, 2, 3)  # never used by forward
        with torch.no_grad():
            self.spare.weight.mul_(100.0)


def test_batch_norm_and_unused_convs_are_reported_as_uncontrolled_and_left_alone(data):
    c = ctx()
    built = []

    def build():
        built.append(TinyConvWithSpare(data.shape, data.num_classes))
        built.append(built[-1].spare.weight.detach().clone())
        return built[0]

    model = SpectralClip(SpectralClipConfig(bound=3.0, base="standard"), TrainConfig(epochs=1, batch_size=32))(
        build, data, c)
    assert c.log["uncontrolled_layers"] == ["body.1", "spare"]
    assert set(c.log["spectral_norms"]) == {"body.0", "head"}
    assert torch.equal(model.spare.weight, built[1])


@pytest.mark.parametrize("base", ["standard", "pgd-at"])
def test_uncontrolled_bound_is_exactly_the_base_training(data, base):
    train = TrainConfig(epochs=1, batch_size=32, lr=0.1)
    pgd = dict(eps=0.1, steps=2, step_size=0.05)
    clip = SpectralClip(SpectralClipConfig(bound=None, base=base, **pgd), train)
    standard, pgd_at = registered("defense", "classics/standard"), registered("defense", "classics/pgd-at")
    reference = standard(train=train) if base == "standard" else pgd_at(pgd_at.Config(**pgd), train)

    def fit(defense):
        return defense(lambda: TinyConv(data.shape, data.num_classes), data, ctx(2))

    a, b = fit(clip), fit(reference)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_conformance():
    check_defense(get_registry().get("defense", "margins/spectral-clip"))
