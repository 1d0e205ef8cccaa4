"""Certified L2 accuracy of the Gaussian-smoothed classifier (Cohen, Rosenfeld & Kolter 2019, CERTIFY).

For every test example CERTIFY (:meth:`robarena_certify.smoothing.Smooth.certify`) returns a class or
abstains, with a certified L2 radius; the certified accuracy at radius ``r`` is the fraction of
examples predicted correctly with a radius >= ``r`` (the paper's Fig. 6 / Table 1 quantity;
``r = 0`` is the smoothed classifier's clean accuracy, abstentions counted wrong). Each holds with
probability >= 1 - alpha per example; the Clopper–Pearson interval over examples is separate.

The empirical partner (``attack = True``, the default): at every radius ``r > 0`` the probe attacks the
smoothed classifier with SmoothAdv-PGD through EOT (:func:`robarena_certify.smooth_attack.smooth_adv`,
Salman et al. 2019) and counts an example *empirically robust at r* when CERTIFY's clean prediction is
its label and PREDICT (``n = predict_n``, the same ``alpha``) at the attacked point does not return a
wrong class (an abstention is not a demonstrated error). A certified example at ``r`` is then counted
broken only if PREDICT errs, which has probability <= alpha, so ``certified@r <= empirical@r`` holds up
to the certificate's alpha; the runner checks it on every row (``Row.certified``).
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from typing import Optional

from bench.api import BaseConfig, CertifiedAccuracy, Cost, Probe, ProbeInput, ProbeResult
from robarena_certify.probes._columns import accuracy_columns
from robarena_certify.smooth_attack import smooth_adv
from robarena_certify.smoothing import ABSTAIN, Smooth, certified_accuracy

#: the paper's CIFAR-10 / ImageNet radii (Table 1 lists 0.25 ... 1.0 and beyond)
COHEN_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


class SmoothingConfig(BaseConfig):
    sigma: float = Field(0.25, gt=0, description="Gaussian noise STD (the paper: 0.12, 0.25, 0.5, 1.0)")
    n0: int = Field(100, ge=1, description="samples to select the top class (paper: 100)")
    n: int = Field(100_000, ge=1, description="samples to estimate its probability (paper: 100,000)")
    alpha: float = Field(0.001, gt=0, lt=0.5, description="failure probability per example (paper: 0.001)")
    radii: list[float] = Field(list(COHEN_RADII), min_length=1, description="L2 radii of the certified-accuracy columns")
    batch_size: int = Field(1000, ge=1, description="noisy copies per forward pass")
    level: float = Field(0.95, gt=0, lt=1, description="confidence level of the columns' Clopper–Pearson intervals")
    attack: bool = Field(True, description="attack the smoothed classifier (SmoothAdv-PGD, EOT) at every radius > 0 "
                                           "for the empirical partner of the certified accuracy")
    attack_steps: int = Field(20, ge=1, description="SmoothAdv-PGD steps")
    attack_samples: int = Field(8, ge=1, description="noise draws m per step (EOT)")
    attack_step_size: Optional[float] = Field(None, gt=0, description="L2 step; None = 2.5 * r / attack_steps")
    predict_n: int = Field(1000, ge=1, description="PREDICT's samples at the attacked point")

    @field_validator("radii")
    @classmethod
    def _radii(cls, v: list[float]) -> list[float]:
        if any(r < 0 for r in v) or len(set(v)) != len(v):
            raise ValueError(f"radii must be distinct and >= 0, got {v}")
        return sorted(v)


class SmoothingProbe(Probe):
    """Certified accuracy of the smoothed classifier at L2 radii.

    Columns: ``certified@<r>`` for each radius (``f"{r:g}"``, e.g. ``certified@0.25``) with
    ``certified@<r>_low`` / ``_high`` (Clopper–Pearson at ``level``) and ``_k`` (count), ``n``,
    ``smoothed_accuracy`` (= certified at radius 0), ``abstain_rate``, ``mean_radius`` (over correct
    predictions, 0 for the rest); with ``attack``, ``empirical@<r>`` (+ ``_low``, ``_high``, ``_k``) for every
    radius > 0. Arrays: ``prediction`` (N,; -1 = abstain), ``radius`` (N,), with ``attack`` ``empirical``
    (R, N) bool over the radii > 0. Certified accuracies (``ProbeResult.certified``, classifier
    "smoothed", L2, every radius > 0) carry the empirical count.

    Args (``SmoothingConfig``): sigma=0.25, n0=100, n=100000, alpha=0.001 (the paper), radii
    0/0.25/0.5/0.75/1.0, batch_size=1000, level=0.95; attack=True, attack_steps=20, attack_samples=8,
    attack_step_size=None (2.5 r / steps), predict_n=1000 (modest settings, not the paper's).
    :meth:`smoke_config` is a cheap setting for tests.
    """

    Config = SmoothingConfig

    @classmethod
    def smoke_config(cls) -> SmoothingConfig:
        return SmoothingConfig(n0=10, n=200, alpha=0.01, radii=[0.0, 0.25], batch_size=200, attack_steps=3,
                               attack_samples=4, predict_n=100)

    def cost(self, n: int, n_train: int) -> Cost:
        """An upper bound, in passes of noisy copies through the base model: CERTIFY's ``n0 + n`` forwards per
        example; with ``attack``, per radius > 0 and example (all counted, though only those CERTIFY predicts
        correctly are attacked) SmoothAdv's ``attack_steps x attack_samples`` forward + backward passes and
        PREDICT's ``predict_n`` forwards."""
        cfg = self.config
        per = Cost(float(cfg.n0 + cfg.n), 0.0)
        if cfg.attack:
            attacked = Cost.steps(cfg.attack_steps * cfg.attack_samples) + Cost(float(cfg.predict_n), 0.0)
            per = per + attacked * sum(1 for r in cfg.radii if r > 0)
        return per * n

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        smooth = Smooth(model, data.num_classes, cfg.sigma, cfg.batch_size)
        preds, radii = [], []
        for i in range(data.x.shape[0]):
            c, r = smooth.certify(data.x[i].to(data.device), cfg.n0, cfg.n, cfg.alpha, generator)
            preds.append(c)
            radii.append(r)
        labels = [int(v) for v in data.y.cpu()]
        n = len(labels)
        scalars: dict[str, float] = {"n": float(n)}
        for radius in cfg.radii:
            k, _ = certified_accuracy(preds, radii, labels, radius)
            scalars.update(accuracy_columns(f"certified@{radius:g}", k, n, cfg.level))
        k0, _ = certified_accuracy(preds, radii, labels, 0.0)
        scalars["smoothed_accuracy"] = k0 / n if n else float("nan")
        scalars["abstain_rate"] = sum(p == ABSTAIN for p in preds) / n if n else float("nan")
        correct = [r if p == y else 0.0 for p, r, y in zip(preds, radii, labels)]
        scalars["mean_radius"] = float(np.mean(correct)) if n else float("nan")
        arrays = {"prediction": np.array(preds), "radius": np.array(radii)}
        positive = [r for r in cfg.radii if r > 0]
        robust = [self._empirical(smooth, data, preds, labels, r, generator) for r in positive] if cfg.attack else []
        for radius, mask in zip(positive, robust):
            scalars.update(accuracy_columns(f"empirical@{radius:g}", int(mask.sum()), n, cfg.level))
        if robust:
            arrays["empirical"] = np.stack(robust)
        source = (f"SmoothAdv-PGD on the smoothed classifier ({cfg.attack_steps} steps, {cfg.attack_samples} "
                  f"noise draws per step), PREDICT n={cfg.predict_n} alpha={cfg.alpha:g}")
        certified = []
        for j, radius in enumerate(positive):
            k, _ = certified_accuracy(preds, radii, labels, radius)
            certified.append(CertifiedAccuracy(
                norm="L2", eps=float(radius), eps_display=f"{radius:g}", correct=k, n=n, classifier="smoothed",
                empirical_correct=int(robust[j].sum()) if robust else None,
                empirical_source=source if robust else None))
        return ProbeResult(scalars, arrays, certified=certified)

    def _empirical(self, smooth: Smooth, data: ProbeInput, preds: list[int], labels: list[int], radius: float,
                   generator: torch.Generator) -> np.ndarray:
        """(N,) bool: CERTIFY's prediction is the label and PREDICT at the SmoothAdv point is not a wrong class."""
        cfg = self.config
        out = np.zeros(len(labels), dtype=bool)
        todo = [i for i, (p, y) in enumerate(zip(preds, labels)) if p == y]  # the rest count as not robust
        chunk = max(1, cfg.batch_size // cfg.attack_samples)
        for start in range(0, len(todo), chunk):
            idx = todo[start:start + chunk]
            xb, yb = data.x[idx].to(data.device), data.y[idx].to(data.device)
            x_adv = smooth_adv(smooth.base, xb, yb, cfg.sigma, radius, cfg.attack_steps, cfg.attack_samples,
                               cfg.attack_step_size, generator)
            for i, xa in zip(idx, x_adv):
                out[i] = smooth.predict(xa, cfg.predict_n, cfg.alpha, generator) in (labels[i], ABSTAIN)
        return out
