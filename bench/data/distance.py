"""A simple, documented distance between image datasets: Fréchet distance of raw-pixel statistics.

Each image is average-pooled to ``pool x pool`` per channel (a 32x32 RGB image -> 192 numbers),
a Gaussian is fitted to each set, and

    FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))

(the Fréchet / 2-Wasserstein distance between the Gaussians, as in FID, Heusel et al. 2017,
but on pixels instead of Inception features). It orders the embedded transfer targets; P2's
own measure (Earth Mover's Distance between feature distributions of a trained model) is
the transfer task's business.
"""
from __future__ import annotations

import numpy as np
import torch
from threadpoolctl import threadpool_limits


def pixel_features(x: torch.Tensor, pool: int = 8) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, C * pool * pool) float64 average-pooled pixels."""
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    pooled = torch.nn.functional.adaptive_avg_pool2d(x.detach().cpu().double(), pool)
    return pooled.flatten(1).numpy()


def frechet_distance(a: torch.Tensor, b: torch.Tensor, pool: int = 8) -> float:
    """Fréchet distance between Gaussian fits of two image sets' pooled pixels (same C, any N >= 2)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"channel counts differ ({a.shape[1]} vs {b.shape[1]}); convert one set first")
    fa, fb = pixel_features(a, pool), pixel_features(b, pool)
    if fa.shape[0] < 2 or fb.shape[0] < 2:
        raise ValueError("each set needs at least 2 images")
    with threadpool_limits(1):  # small matrices: threaded BLAS only adds contention
        return _frechet(fa, fb)


def _frechet(fa: np.ndarray, fb: np.ndarray) -> float:
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    cov_a, cov_b = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    # tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric PSD matrix:
    # two symmetric eigendecompositions, faster and steadier than a general matrix square root.
    w, v = np.linalg.eigh(cov_a)
    half = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(half @ cov_b @ half), 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
