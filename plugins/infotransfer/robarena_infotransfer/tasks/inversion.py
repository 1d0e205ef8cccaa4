"""Representation inversion, effective noise once and effective images (P2 Def. 0.1 / Eq. 3, Def. 0.7 / Eq. 10).

For the first ``n_images`` test images ``x`` with representations ``z_bar = f_w(x)`` (``model.features``):

* **inversion** (P2 Eq. 3): ``x_hat = argmin_{x'} ||z_bar - f_w(x')||_2`` from white noise
  ``x'(0) ~ N(0.5, init_std)`` clipped to [0, 1];
* **effective noise once** (P2, "Adding effective noise (once) improves inversion"): draw
  ``n ~ N(0, Sigma*)`` once (diagonal ``Sigma*`` of P2 Def. 0.5 from the Fisher of the weights on
  ``fisher_examples`` training examples, :mod:`robarena_infotransfer.posterior`) and solve
  ``argmin_{x'} ||z_bar - f_{w+n}(x')||_2`` from the same start (P2 reports convergence in about
  200 instead of 8,000 iterations, ~40x);
* **effective images** (P2 Def. 0.7, Eq. 10): ``argmin_{x'} ||f_{w+n}(x) - f_w(x')||_2``, with the
  same draw ``n`` and start.

Each objective is reported relative to its target's norm (see
:mod:`robarena_infotransfer.tasks.inversion_solver`). Metrics (means over the images):
``final_loss``, ``psnr`` (dB), ``ssim``, ``iters_to_threshold`` for the inversion;
``noise_final_loss`` (its own objective, with ``f_{w+n}``), ``noise_clean_loss`` (the same images
under ``f_w``), ``noise_psnr``, ``noise_ssim``, ``noise_iters_to_threshold`` and
``noise_feature_shift`` (``||f_{w+n}(x) - f_w(x)|| / ||f_w(x)||``, how strong the draw is);
``effective_final_loss``, ``effective_psnr``, ``effective_ssim``, ``effective_iters_to_threshold``.
``*iters_to_threshold`` is the first iteration at which the mean objective over the images falls
to ``threshold`` times its value at the start (``steps + 1`` if it never does): a relative
threshold, so rows whose losses start at different values compare. Variants switched off report
NaN. Artifacts: ``loss_curve``, ``noise_loss_curve``, ``effective_loss_curve`` (``steps + 1``
mean objectives) and ``inversion.png``: one row each of originals, inversions, effective-noise
inversions and effective images (the rows of variants switched off are left out); the PNG
declares its row labels (``robarena:grid-rows``), which the leaderboard page shows beside it.

Randomness (start images, then the weight noise) comes from the task's generator.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Task, TaskInput, TaskResult
from bench.errors import UsageError
from robarena_infotransfer.images import png_grid
from robarena_infotransfer.posterior import (DEFAULT_BETA, DEFAULT_PRIOR_STD, FisherKind, diagonal_fisher,
                                             optimal_log_variance, perturbed_copy, sample_weight_noise)
from robarena_infotransfer.probes.weight_info import fisher_cost
from robarena_infotransfer.tasks.inversion_metrics import iterations_to_threshold, psnr, ssim
from robarena_infotransfer.tasks.inversion_solver import Inversion, invert, relative_loss

NAN = float("nan")
#: Metric names, in the order the TaskSpec declares them.
METRICS = ("final_loss", "psnr", "ssim", "iters_to_threshold",
           "noise_final_loss", "noise_clean_loss", "noise_psnr", "noise_ssim", "noise_iters_to_threshold",
           "noise_feature_shift",
           "effective_final_loss", "effective_psnr", "effective_ssim", "effective_iters_to_threshold")


def feature_map(model: nn.Module):
    """``model.features`` flattened to (N, D), or a UsageError saying how to provide it."""
    features = getattr(model, "features", None)
    if not callable(features):
        raise UsageError(f"{type(model).__name__} has no features(x); the inversion task needs the penultimate "
                         "representation: subclass bench.api.Classifier and implement extract()")

    def call(x: torch.Tensor) -> torch.Tensor:
        try:
            return features(x).flatten(1)
        except NotImplementedError as exc:
            raise UsageError(f"{type(model).__name__} exposes no feature extractor ({exc})") from None

    return call


class InversionConfig(BaseConfig):
    n_images: int = Field(8, ge=1, description="first n test images to invert")
    steps: int = Field(10000, ge=1, description="updates per inversion (P2 Fig. 2 runs to ~8k; robustness library: 10,000)")
    optimizer: Literal["normalized-gd", "adam"] = Field("normalized-gd", description="P2 states none; see the solver")
    step_size: float = Field(1.0, gt=0, description="L2 step per image (normalized-gd; 1.0 on 3x32x32 as in "
                                                    "Engstrom et al. 2019) or Adam's learning rate")
    init_std: float = Field(0.05, gt=0, description="sigma of the N(0.5, sigma) start (robustness library: 1/20)")
    threshold: float = Field(0.05, gt=0, lt=1, description="iters_to_threshold: fraction of the initial objective")
    noise_once: bool = Field(True, description="run the effective-noise-once inversion")
    effective_images: bool = Field(True, description="compute effective images (Eq. 10)")
    beta: float = Field(DEFAULT_BETA, gt=0, description="beta of Sigma* (P2 Def. 0.5; not stated in P2)")
    prior_std: float = Field(DEFAULT_PRIOR_STD, gt=0, description="lambda of the prior N(0, lambda^2 I) (not stated in P2)")
    fisher: FisherKind = Field("true", description="Fisher of the weights: 'true' (P2) or 'empirical'")
    fisher_examples: int = Field(256, ge=1, description="first n training examples for the Fisher")
    fisher_batch_size: int = Field(32, ge=1, description="examples per vectorized per-example-gradient chunk")
    png_scale: int = Field(0, ge=0, description="pixel enlargement in inversion.png; 0 = enough for 32 pixels")


class InversionTask(Task):
    """Invert ``model.features`` on test images, plain, with effective noise once, and effective images.

    Args (``InversionConfig``): n_images=8, steps=10000, optimizer="normalized-gd", step_size=1.0,
    init_std=0.05, threshold=0.05, noise_once=True, effective_images=True, beta=1e-8,
    prior_std=0.03, fisher="true", fisher_examples=256, fisher_batch_size=32, png_scale=0.
    """

    Config = InversionConfig

    @classmethod
    def smoke_config(cls) -> InversionConfig:
        """For ``robarena mock-run``: 2 images, 50 steps, the Fisher on 64 examples."""
        return InversionConfig(n_images=2, steps=50, fisher_examples=64)

    def cost(self, n: int, n_train: int, num_classes: Optional[int] = None) -> Optional[Cost]:
        """The whole cell, for ``n_images`` test images (an upper bound if the test split has fewer). Per image:
        the target features (1 forward) and the inversion's ``steps + 1`` objective forwards and ``steps``
        backwards; with either weight-noise variant, the noisy target (1 forward) and the Fisher of the
        weights on the first ``fisher_examples`` of the ``n_train`` training examples
        (:func:`~robarena_infotransfer.probes.weight_info.fisher_cost`); ``noise_once`` another inversion and
        its clean loss (1 forward), ``effective_images`` another inversion. None for the true Fisher when
        ``num_classes`` is not given (the dataset's classes are not told to ``cost(n, n_train)``)."""
        cfg = self.config
        inversion = Cost(cfg.steps + 1.0, float(cfg.steps))
        per_image = Cost(1.0, 0.0) + inversion
        cost = per_image * cfg.n_images
        if cfg.noise_once or cfg.effective_images:
            fisher = fisher_cost(min(cfg.fisher_examples, n_train), cfg.fisher, num_classes)
            if fisher is None:
                return None
            noisy = Cost(1.0, 0.0)
            if cfg.noise_once:
                noisy = noisy + inversion + Cost(1.0, 0.0)
            if cfg.effective_images:
                noisy = noisy + inversion
            cost = cost + fisher + noisy * cfg.n_images
        return cost

    def run(self, model: nn.Module, inputs: TaskInput, generator: torch.Generator) -> TaskResult:
        cfg = self.config
        device = inputs.device
        x = inputs.data.x_test[:cfg.n_images].to(device)
        if x.shape[0] == 0:
            raise UsageError("task inversion needs test images; the dataset's test split is empty")
        features = feature_map(model)
        with torch.no_grad():
            target = features(x).detach()
        start = (0.5 + cfg.init_std * torch.randn(x.shape, generator=generator, device=generator.device)).to(device)
        metrics: dict[str, float] = dict.fromkeys(METRICS, NAN)
        artifacts: dict = {}
        rows = [x]
        labels = ["original"]
        bar = inputs.progress_bar(cfg.steps * (1 + cfg.noise_once + cfg.effective_images), "inversion")

        plain = self._invert(features, target, start, bar)
        self._record(metrics, artifacts, "", plain, x)
        rows.append(plain.x)
        labels.append("inversion")

        if cfg.noise_once or cfg.effective_images:
            noisy = self._noisy_model(model, inputs, generator)
            noisy_features = feature_map(noisy)
            with torch.no_grad():
                noisy_target = noisy_features(x).detach()
                metrics["noise_feature_shift"] = float(
                    (torch.linalg.vector_norm(noisy_target - target, dim=1)
                     / torch.linalg.vector_norm(target, dim=1).clamp_min(1e-12)).mean())
            if cfg.noise_once:
                once = self._invert(noisy_features, target, start, bar)
                self._record(metrics, artifacts, "noise_", once, x)
                with torch.no_grad():
                    metrics["noise_clean_loss"] = float(relative_loss(features, once.x, target).mean())
                rows.append(once.x)
                labels.append("inversion, weight noise once")
            if cfg.effective_images:
                effective = self._invert(features, noisy_target, start, bar)
                self._record(metrics, artifacts, "effective_", effective, x)
                rows.append(effective.x)
                labels.append("effective image")

        bar.close()
        scale = cfg.png_scale or max(1, math.ceil(32 / max(x.shape[-2:])))
        artifacts["inversion.png"] = png_grid(rows, scale=scale, labels=labels)
        return TaskResult(metrics, artifacts)

    def _invert(self, features, target: torch.Tensor, start: torch.Tensor, bar) -> Inversion:
        cfg = self.config
        return invert(features, target, start, cfg.steps, cfg.step_size, cfg.optimizer, on_step=bar.update)

    def _record(self, metrics: dict, artifacts: dict, prefix: str, result: Inversion, x: torch.Tensor) -> None:
        curve = result.curve.mean(dim=1)
        metrics[f"{prefix}final_loss"] = float(result.final_loss.mean())
        metrics[f"{prefix}psnr"] = float(psnr(result.x, x).mean())
        metrics[f"{prefix}ssim"] = float(ssim(result.x, x).mean())
        metrics[f"{prefix}iters_to_threshold"] = float(iterations_to_threshold(curve, self.config.threshold))
        artifacts[f"{prefix}loss_curve"] = curve.double().numpy()

    def _noisy_model(self, model: nn.Module, inputs: TaskInput, generator: torch.Generator) -> nn.Module:
        """A copy of ``model`` with weights ``w + n``, ``n ~ N(0, Sigma*)`` drawn once from ``generator``."""
        cfg = self.config
        data = inputs.data
        x_fisher = data.x_train[:cfg.fisher_examples].to(inputs.device)
        y_fisher = data.y_train[:cfg.fisher_examples].to(inputs.device)
        fisher = diagonal_fisher(model, x_fisher, y_fisher, kind=cfg.fisher, batch_size=cfg.fisher_batch_size)
        log_var = {name: optimal_log_variance(f, cfg.beta, cfg.prior_std) for name, f in fisher.items()}
        noisy = perturbed_copy(model, sample_weight_noise(log_var, generator))
        for p in noisy.parameters():
            p.requires_grad_(False)
        return noisy


__all__ = ["InversionTask", "InversionConfig", "METRICS"]
