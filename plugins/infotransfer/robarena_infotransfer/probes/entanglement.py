"""Entanglement of the final features: the soft nearest-neighbour loss (P2 Fig. 6; Frosst et al. 2019).

P2 Fig. 6 shows t-SNE plots of the final representations of 512 images for robust ResNet-18s
trained on CIFAR-10 at several eps, and states that "as eps increases, the entanglement
increases at the expense of less discriminative features", entanglement in the sense of Frosst,
Papernot and Hinton (2019), "Analyzing and Improving Representations with the Soft Nearest
Neighbor Loss" (ICML), whose measure is the soft nearest-neighbour loss at temperature T:

    l_sn(z, y, T) = -1/b sum_i log( sum_{j != i, y_j = y_i} exp(-||z_i - z_j||^2 / T)
                                   / sum_{k != i}           exp(-||z_i - z_k||^2 / T) )

(Euclidean distances, Frosst et al. Eq. 1). It is 0 for perfectly separated classes and about
log(C) for C balanced, completely mixed classes. Points whose class has no other member in the
sample have an empty numerator and are left out of the mean.

Temperature: with ``temperature = None`` (default) the loss is minimised over T, as Frosst et
al.'s reference implementation does (the "optimized temperature" SNNL), which also makes the
value independent of the features' scale; the minimum is taken on a log grid
``T = m * 10^a``, ``a`` in ``[-4, 3]`` in ``grid`` steps, ``m`` the median squared distance
between distinct points. A number fixes T. The minimum is ~0 for any representation whose
classes are separated by a margin (every class's nearest neighbours at a small enough scale are
its own), so for models that classify their test set perfectly it cannot tell them apart; the
second column therefore also reports the loss at the scale-free temperature ``T = m``
(the typical squared distance), which still measures how tight the classes are relative to the
spread of the whole representation.

Columns: ``snn_loss`` (declared; at the minimising or fixed T), ``temperature`` (that T),
``snn_loss_median`` (at ``T = m``), ``median_sq_distance`` (``m``). Arrays for a plot of the
representation (a deterministic 2-D PCA instead of P2's t-SNE): ``pca_x``, ``pca_y``, ``label``
(n,), ``pca_explained`` (2,) explained-variance ratios; and ``temperatures``, ``losses`` (the
loss curve over the grid; one point when T is fixed).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_infotransfer.probes.features import batched_features


class EntanglementConfig(BaseConfig):
    temperature: Optional[float] = Field(None, gt=0, description="fixed T; None = the T minimising the loss "
                                                                 "(Frosst et al.'s optimized temperature)")
    grid: int = Field(71, ge=2, description="log-spaced temperatures searched when temperature is None")
    n: int = Field(512, ge=2, description="first n evaluation examples (P2 Fig. 6: 512)")


def squared_distances(z: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances (n, n) of ``z`` (n, k), float64, exact zeros on the diagonal."""
    z = z.double()
    sq = (z * z).sum(dim=1)
    d = (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
    d.fill_diagonal_(0.0)
    return d


def snn_loss(sq_dist: torch.Tensor, y: torch.Tensor, temperature: float) -> float:
    """Soft nearest-neighbour loss (Frosst et al. 2019, Eq. 1) from squared distances (n, n) and labels (n,).

    NaN when no point has a same-class partner.
    """
    n = sq_dist.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=sq_dist.device)
    same = (y[:, None] == y[None, :]) & off
    logits = -sq_dist / temperature
    log_den = torch.logsumexp(logits.masked_fill(~off, -math.inf), dim=1)
    log_num = torch.logsumexp(logits.masked_fill(~same, -math.inf), dim=1)
    keep = same.any(dim=1)
    if not bool(keep.any()):
        return float("nan")
    return float(-(log_num - log_den)[keep].mean())


def pca_2d(z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal-component scores (n, 2) of ``z`` (n, k) and their explained-variance ratios (2,).

    Signs are fixed (each component's largest-magnitude loading is positive), so the plot is deterministic.
    """
    a = z.double().numpy()
    a = a - a.mean(axis=0)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    vt = vt[:2]
    vt = vt * np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])[:, None]
    scores = a @ vt.T
    total = float((s**2).sum())
    ratio = (s[:2] ** 2) / total if total > 0 else np.zeros(min(2, s.shape[0]))
    if scores.shape[1] < 2:  # one-dimensional features
        scores = np.pad(scores, ((0, 0), (0, 2 - scores.shape[1])))
        ratio = np.pad(ratio, (0, 2 - ratio.shape[0]))
    return scores, ratio


class Entanglement(Probe):
    """Soft nearest-neighbour loss of ``model.features(x)`` with the true labels, and a 2-D PCA of the features.

    Args (``EntanglementConfig``): temperature=None (minimised over the grid), grid=71, n=512.
    Shapes: the evaluation subset ``x`` (N, C, H, W), ``y`` (N,); features (N, k).
    """

    Config = EntanglementConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """1 forward (the features, no gradient) per evaluation example used (the first ``n`` of the config)."""
        return Cost(forward=float(min(n, self.config.n)))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        x, y = data.x[:cfg.n], data.y[:cfg.n].cpu()
        z = batched_features(model, x, data.device, data.batch_size)
        d = squared_distances(z)
        pairs = d[~torch.eye(d.shape[0], dtype=torch.bool)]
        median = float(pairs.median()) if pairs.numel() else 0.0
        scale = median if median > 0 else 1.0
        if cfg.temperature is not None:
            temps = np.array([cfg.temperature])
        else:
            temps = scale * 10.0 ** np.linspace(-4.0, 3.0, cfg.grid)
        losses = np.array([snn_loss(d, y, float(t)) for t in temps])
        if np.all(np.isnan(losses)):
            best, loss = float("nan"), float("nan")
        else:
            i = int(np.nanargmin(losses))
            best, loss = float(temps[i]), float(losses[i])
        scores, ratio = pca_2d(z)
        arrays = {"pca_x": scores[:, 0], "pca_y": scores[:, 1], "label": y.numpy(), "pca_explained": ratio,
                  "temperatures": temps, "losses": losses}
        scalars = {"snn_loss": loss + 0.0, "temperature": best, "snn_loss_median": snn_loss(d, y, scale) + 0.0,
                   "median_sq_distance": median}
        return ProbeResult(scalars, arrays)
