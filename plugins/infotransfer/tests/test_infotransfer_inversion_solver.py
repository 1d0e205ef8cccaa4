"""Inversion solver (P2 Eq. 3), PSNR/SSIM and the iterations-to-threshold count, against known answers."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import correlate

from bench.errors import UsageError
from robarena_infotransfer.images import PADDING, png_grid
from robarena_infotransfer.tasks.inversion_metrics import gaussian_window, iterations_to_threshold, psnr, ssim
from robarena_infotransfer.tasks.inversion_solver import invert, relative_loss


def flatten(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


def images(n=4, shape=(1, 8, 8), seed=0, low=0.1, high=0.9) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, *shape, generator=gen)


def test_identity_feature_map_is_inverted_exactly():
    x = images()
    start = torch.full_like(x, 0.5)
    result = invert(flatten, flatten(x), start, steps=400, step_size=0.01)
    assert float(psnr(result.x, x).min()) > 60  # error below one step (0.01 in L2 over 64 pixels)
    assert float(ssim(result.x, x).min()) > 0.9999


def test_adam_also_inverts_the_identity():
    x = images(seed=1)
    result = invert(flatten, flatten(x), torch.full_like(x, 0.5), steps=600, step_size=0.01, optimizer="adam")
    assert float(psnr(result.x, x).min()) > 45


def test_normalized_steps_close_the_distance_linearly():
    # For f = identity, each step moves x' by exactly step_size towards x (the clip never binds on the
    # segment between two points of the box): ||x'(t) - x|| = D - t s until it drops below one step.
    x = images(n=3, seed=2)
    start = images(n=3, seed=3)
    s = 0.02
    distance = torch.linalg.vector_norm(flatten(start - x), dim=1)
    result = invert(flatten, flatten(x), start, steps=50, step_size=s)
    t = torch.arange(51, dtype=torch.float32)[:, None]
    expected = (distance[None, :] - t * s) / torch.linalg.vector_norm(flatten(x), dim=1)[None, :]
    torch.testing.assert_close(result.curve, expected, rtol=1e-4, atol=1e-5)
    # the curve has steps + 1 points, starts at the start's loss and never goes up while far from the target
    assert result.curve.shape == (51, 3)
    assert bool((result.curve[1:] <= result.curve[:-1] + 1e-7).all())
    # iterations until the mean relative loss falls to 70 % of its start: from the line above
    fraction = 0.7
    mean = result.curve.mean(dim=1)
    first = int(torch.nonzero(expected.mean(dim=1) <= fraction * expected.mean(dim=1)[0])[0, 0])
    assert iterations_to_threshold(mean, fraction) == first


def test_a_nonlinear_feature_map_loss_decreases():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 64, 32)).eval()
    x = images(seed=4)
    start = images(seed=5, low=0.45, high=0.55)
    result = invert(net, net(x).detach(), start, steps=150, step_size=0.05)
    assert float(result.curve[-1].mean()) < 0.2 * float(result.curve[0].mean())
    # the returned images are the best iterate: their objective is the minimum of each curve
    torch.testing.assert_close(relative_loss(net, result.x, net(x).detach()), result.final_loss, rtol=1e-5, atol=1e-6)
    assert bool(((result.x >= 0) & (result.x <= 1)).all())


def test_iterations_to_threshold_on_known_curves():
    curve = torch.tensor([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03])
    assert iterations_to_threshold(curve, 0.1) == 4  # 0.0625 <= 0.1 < 0.125
    assert iterations_to_threshold(curve, 0.5) == 1  # reaching exactly the threshold counts
    assert iterations_to_threshold(curve, 0.01) == len(curve)  # never: steps + 1
    assert iterations_to_threshold(torch.tensor([2.0, 3.0, 0.9]), 0.5) == 2
    with pytest.raises(UsageError):
        iterations_to_threshold(curve, 1.5)


def test_psnr_closed_form():
    x = images(n=2, seed=6)
    assert psnr(x + 0.1, x).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)  # MSE 0.01
    assert float(psnr(x, x)[0]) == 100.0  # identical images: the cap


def reference_ssim(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """Wang et al. 2004 with scipy's correlate and an explicit valid crop (one channel)."""
    w = gaussian_window(size).numpy()
    r = size // 2

    def mean(t):
        return correlate(t, w, mode="constant")[r:t.shape[0] - r, r:t.shape[1] - r]

    mu_a, mu_b = mean(a), mean(b)
    va, vb, cov = mean(a * a) - mu_a ** 2, mean(b * b) - mu_b ** 2, mean(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return float((((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))).mean())


@pytest.mark.parametrize("shape,size", [((1, 8, 8), 7), ((1, 16, 16), 11), ((3, 12, 13), 11)])
def test_ssim_matches_an_independent_scipy_computation(shape, size):
    x = images(n=2, shape=shape, seed=7, low=0, high=1)
    gen = torch.Generator().manual_seed(8)
    y = (x + 0.2 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    ours = ssim(y, x)
    for i in range(2):
        ref = np.mean([reference_ssim(y[i, c].double().numpy(), x[i, c].double().numpy(), size)
                       for c in range(shape[0])])
        assert float(ours[i]) == pytest.approx(ref, abs=1e-5)


def test_ssim_known_properties():
    x = images(n=3, seed=9, low=0, high=1)
    y = images(n=3, seed=10, low=0, high=1)
    assert ssim(x, x).tolist() == pytest.approx([1.0] * 3, abs=1e-6)
    torch.testing.assert_close(ssim(x, y), ssim(y, x))
    assert bool((ssim(x, y) < 0.9).all()) and bool((ssim(x, y) >= -1).all())
    # two constant images a, b: variances and covariance vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b = 0.2, 0.7
    c1 = 0.01 ** 2
    const = ssim(torch.full((1, 1, 8, 8), a), torch.full((1, 1, 8, 8), b))
    assert float(const) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-6)
    # a contrast-inverted image (same mean) is anti-correlated: negative SSIM
    centred = 0.5 + 0.3 * (x - x.mean(dim=(2, 3), keepdim=True))
    assert bool((ssim(1 - centred, centred) < 0).all())


def test_png_grid_decodes_to_the_images():
    rows = [images(n=3, seed=11, low=0, high=1), images(n=3, seed=12, low=0, high=1)]
    scale = 4
    png = png_grid(rows, scale=scale)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    cell = 8 * scale + PADDING
    assert decoded.shape == (2 * cell + PADDING, 3 * cell + PADDING)  # greyscale: no channel axis
    for r, batch in enumerate(rows):
        for i in range(3):
            top, left = PADDING + r * cell, PADDING + i * cell
            block = decoded[top:top + 8 * scale:scale, left:left + 8 * scale:scale]
            expected = (batch[i, 0] * 255).round().numpy()
            assert np.abs(block.astype(float) - expected).max() <= 0.5
    rgb = np.asarray(Image.open(io.BytesIO(png_grid([images(n=2, shape=(3, 5, 5), seed=13)]))))
    assert rgb.shape == (5 + 2 * PADDING, 2 * (5 + PADDING) + PADDING, 3)


def test_bad_arguments_are_usage_errors():
    x = images()
    with pytest.raises(UsageError, match="step_size"):
        invert(flatten, flatten(x), x, steps=3, step_size=0.0)
    with pytest.raises(UsageError, match="optimizer"):
        invert(flatten, flatten(x), x, steps=3, step_size=0.1, optimizer="lbfgs")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="targets"):
        invert(flatten, flatten(x)[:2], x, steps=3, step_size=0.1)
    with pytest.raises(UsageError, match="same shape"):
        psnr(x, x[:2])
    with pytest.raises(UsageError, match="grid"):
        png_grid([x, x[:1]])
    assert math.isfinite(float(relative_loss(flatten, x, torch.zeros_like(flatten(x)))[0]))
