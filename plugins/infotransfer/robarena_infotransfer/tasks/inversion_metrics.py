"""Reconstruction quality and convergence speed of an inversion: PSNR, SSIM, iterations to a threshold.

PSNR and SSIM are computed here in torch because the stack has no image-quality library
(scikit-image, torchmetrics and piq are not dependencies); the SSIM follows Wang et al. 2004,
"Image quality assessment: from error visibility to structural similarity", Eq. 13: Gaussian
window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, dynamic range ``L = 1`` (images in [0, 1]),
statistics over the window positions that fit inside the image (no padding), averaged over
positions and channels. The window is 11 x 11 as in the paper, or the largest odd size that
fits in smaller images (7 x 7 on 8 x 8 digits).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.errors import UsageError

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(x: torch.Tensor, reference: torch.Tensor, max_psnr: float = 100.0) -> torch.Tensor:
    """(N,) ``10 log10(1 / MSE)`` in dB per image for [0, 1] images (N, C, H, W); capped at ``max_psnr``."""
    _check_pair(x, reference)
    mse = ((x.double() - reference.double()) ** 2).flatten(1).mean(dim=1)
    floor = 10.0 ** (-max_psnr / 10)
    return (10 * torch.log10(1.0 / mse.clamp_min(floor))).float()


def gaussian_window(size: int, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """(size, size) normalized Gaussian weights, float64."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(N,) mean structural similarity (Wang et al. 2004) per image of [0, 1] images (N, C, H, W)."""
    _check_pair(x, reference)
    n, c, h, w = x.shape
    size = min(SSIM_WINDOW, h if h % 2 else h - 1, w if w % 2 else w - 1)
    if size < 1:
        raise UsageError(f"images of size {h}x{w} are too small for SSIM")
    window = gaussian_window(size).to(x.device).expand(c, 1, size, size)
    a, b = x.double(), reference.double()

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=c)

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a ** 2
    var_b = local_mean(b * b) - mu_b ** 2
    cov = local_mean(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(dim=1).float()


def iterations_to_threshold(curve: torch.Tensor, fraction: float) -> int:
    """First iteration t with ``curve[t] <= fraction * curve[0]``; ``len(curve)`` if never reached.

    ``curve`` is one loss per iterate (1-D). A relative threshold makes the count comparable
    across models whose losses start at different values.
    """
    if curve.dim() != 1 or curve.numel() == 0:
        raise UsageError(f"expected a 1-D, non-empty loss curve, got shape {tuple(curve.shape)}")
    if not 0 < fraction < 1:
        raise UsageError(f"threshold fraction must be in (0, 1), got {fraction}")
    reached = torch.nonzero(curve <= fraction * curve[0])
    return int(reached[0, 0]) if reached.numel() else int(curve.numel())


def _check_pair(x: torch.Tensor, reference: torch.Tensor) -> None:
    if x.shape != reference.shape or x.dim() != 4:
        raise UsageError(f"expected two image batches (N, C, H, W) of the same shape, got "
                         f"{tuple(x.shape)} and {tuple(reference.shape)}")

