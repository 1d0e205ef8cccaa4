"""Embedded transfer targets: determinism, documented sizes, and the distance ordering source-near-far."""
import math

import numpy as np
import pytest
import torch

from bench.data.distance import frechet_distance
from bench.data.gratings import COLORS, Gratings32, make_gratings
from bench.data.targets import Digits32, GratingsShifted, ShiftedConfig, rotate_hue


@pytest.fixture(scope="module")
def source():
    return Gratings32()().x_test


def shifted(s, **kw):
    return GratingsShifted(ShiftedConfig(shift=s, **kw))()


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    """Two isotropic Gaussians N(0, I) and N(m, 4I) in d dims: FD = |m|^2 + d (1 + 4 - 2 * 2) = |m|^2 + d."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 1, 2, 2, generator=g, dtype=torch.float64)
    b = 0.3 + 2.0 * torch.randn(20000, 1, 2, 2, generator=g, dtype=torch.float64)
    fd = frechet_distance(a, b, pool=2)
    assert fd == pytest.approx(4 * 0.09 + 4, rel=0.05)
    assert frechet_distance(a, a, pool=2) == pytest.approx(0.0, abs=1e-6)


def test_distance_grows_with_shift_and_digits_are_farthest(source):
    d = {s: frechet_distance(source, shifted(s, n_train=10).x_test) for s in (0.0, 0.25, 0.5, 1.0)}
    far = frechet_distance(source, Digits32()().x_test)
    noise_floor = frechet_distance(source, Gratings32()().x_train[:500])  # same distribution, other draw
    assert d[0.0] < 1.5 * noise_floor
    assert d[0.0] < d[0.25] < d[0.5] < d[1.0] < far
    assert far > 5 * d[1.0]


def test_shift_zero_is_a_fresh_draw_of_the_source():
    s0 = shifted(0.0, n_train=50, n_test=20)
    xt, yt = make_gratings(50, 1000, 0.08)
    assert torch.equal(s0.x_train, xt) and torch.equal(s0.y_train, yt)
    src = Gratings32()()
    assert not torch.equal(s0.x_train, src.x_train[:50])  # disjoint seeds


def test_targets_are_deterministic_with_documented_sizes():
    a, b = shifted(0.25), shifted(0.25)
    assert a.fingerprint == b.fingerprint and a.shape == (3, 32, 32) and a.num_classes == 10
    assert (len(a.y_train), len(a.y_test)) == (2000, 500)
    assert torch.bincount(a.y_train).tolist() == [200] * 10
    assert shifted(0.5).fingerprint != a.fingerprint
    d = Digits32()()
    assert d.shape == (3, 32, 32) and (len(d.y_train), len(d.y_test)) == (1297, 500)
    assert torch.equal(d.x_train[:, 0], d.x_train[:, 2])


def test_rotate_hue_keeps_grey_and_brightness_and_half_turn_gives_the_reflection():
    grey = torch.tensor([[0.4, 0.4, 0.4]])
    assert torch.allclose(rotate_hue(grey, 1.234), grey, atol=1e-6)
    c = torch.tensor([[0.6, 0.5, 0.4]])  # stays inside the cube when reflected
    half = rotate_hue(c, math.pi)
    assert torch.allclose(half, 2 * c.mean() - c, atol=1e-6)  # reflection through the grey axis
    assert torch.allclose(rotate_hue(COLORS, 0.0), COLORS)
    full = rotate_hue(c, 0.7)
    assert float(full.mean()) == pytest.approx(float(c.mean()), abs=1e-6)


def test_class_orientation_moves_by_nine_degrees_at_full_shift():
    """The dominant orientation of the class-0 gratings' spectrum moves from 0 to 9 degrees."""
    def angle(x):
        spec = np.abs(np.fft.fftshift(np.fft.fft2(x.mean(1).numpy() - 0.5), axes=(-2, -1))).mean(0)
        spec[16, 16] = 0
        r, c = np.unravel_index(np.argmax(spec), spec.shape)
        return math.degrees(math.atan2(r - 16, c - 16)) % 180

    for s, expected in ((0.0, 0.0), (1.0, 9.0)):
        data = shifted(s, n_train=10, n_test=200, noise=0.0)
        got = angle(data.x_test[data.y_test == 0])
        assert min(abs(got - expected), 180 - abs(got - expected)) < 6.0
