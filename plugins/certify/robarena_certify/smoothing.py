"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): PREDICT and CERTIFY of the smoothed classifier.

The smoothed classifier of a base classifier ``f`` is ``g(x) = argmax_c P(f(x + d) = c)`` with
``d ~ N(0, sigma^2 I)``. Its L2 robustness guarantee (the paper's Theorem 1, in the form of its
CERTIFY): if ``P(f(x + d) = c_A) >= p_A_lower > 1/2`` then ``g`` predicts ``c_A`` everywhere in the
L2 ball of radius ``sigma * Phi^-1(p_A_lower)`` around ``x``.

* :func:`lower_confidence_bound` is the one-sided (1 - alpha) Clopper–Pearson lower bound of a
  binomial proportion: the lower end of the two-sided interval at level ``1 - 2 alpha``
  (``bench.stats.proportion_interval``), as the authors' code does.
* :meth:`Smooth.certify` draws ``n0`` noisy copies to *select* the top class, then ``n`` fresh ones
  to *estimate* its probability (the selection and the estimate use separate samples); it abstains
  when ``p_A_lower <= 1/2``.
* :meth:`Smooth.predict` draws ``n`` copies and returns the top class unless a two-sided binomial
  test of the top two counts against 1/2 has a p-value above ``alpha`` (then it abstains).

Noise is not clipped to [0, 1] (as in the paper: the base classifier sees ``x + d`` itself).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.errors import UsageError
from bench.stats import proportion_interval

#: what :meth:`Smooth.predict` and :meth:`Smooth.certify` return instead of a class
ABSTAIN = -1


def lower_confidence_bound(k: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper–Pearson lower bound of ``k / n``."""
    if not 0 < alpha < 0.5:
        raise UsageError(f"alpha must lie in (0, 1/2), got {alpha}")
    return proportion_interval(int(k), int(n), level=1.0 - 2.0 * alpha, method="clopper-pearson").low


def smoothing_radius(p_a_lower: float, sigma: float) -> float:
    """``sigma * Phi^-1(p_A_lower)``: the certified L2 radius; 0 when ``p_A_lower <= 1/2`` (abstain)."""
    if p_a_lower <= 0.5:
        return 0.0
    from scipy.stats import norm

    return float(sigma * norm.ppf(p_a_lower))


class Smooth:
    """The smoothed classifier of ``base`` (a logits model, used in eval mode as given) at noise ``sigma``.

    Args:
        base: maps (B, C, H, W) to logits (B, num_classes).
        num_classes: number of classes.
        sigma: standard deviation of the Gaussian noise (> 0).
        batch_size: noisy copies per forward pass.
    """

    def __init__(self, base: nn.Module, num_classes: int, sigma: float, batch_size: int = 1000) -> None:
        if sigma <= 0:
            raise UsageError(f"sigma must be positive, got {sigma}")
        self.base, self.num_classes, self.sigma, self.batch_size = base, int(num_classes), float(sigma), int(batch_size)

    @torch.no_grad()
    def sample_counts(self, x: torch.Tensor, num: int, generator: torch.Generator) -> torch.Tensor:
        """Counts (num_classes,) of the base classifier's predictions on ``num`` noisy copies of ``x`` (C, H, W)."""
        counts = torch.zeros(self.num_classes, dtype=torch.long)
        remaining = int(num)
        while remaining > 0:
            b = min(self.batch_size, remaining)
            batch = x.unsqueeze(0).expand(b, *x.shape)
            noise = torch.randn(batch.shape, generator=generator, device=generator.device, dtype=x.dtype)
            noise = noise.to(x.device) * self.sigma  # the generator may live on another device than x
            pred = self.base(batch + noise).argmax(dim=1)
            counts += torch.bincount(pred.cpu(), minlength=self.num_classes)
            remaining -= b
        return counts

    def predict(self, x: torch.Tensor, n: int, alpha: float, generator: torch.Generator) -> int:
        """The paper's PREDICT: the top class, or :data:`ABSTAIN` when the top two are not separated at ``alpha``."""
        from scipy.stats import binomtest

        counts = self.sample_counts(x, n, generator)
        top2 = counts.topk(2)
        n_a, n_b = int(top2.values[0]), int(top2.values[1])
        if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
            return ABSTAIN
        return int(top2.indices[0])

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float,
                generator: torch.Generator) -> tuple[int, float]:
        """The paper's CERTIFY: ``(c_A, sigma * Phi^-1(p_A_lower))``, or ``(ABSTAIN, 0.0)``."""
        c_a = int(self.sample_counts(x, n0, generator).argmax())
        n_a = int(self.sample_counts(x, n, generator)[c_a])
        p_a_lower = lower_confidence_bound(n_a, n, alpha)
        if p_a_lower <= 0.5:
            return ABSTAIN, 0.0
        return c_a, smoothing_radius(p_a_lower, self.sigma)


def certified_accuracy(predictions: list[int], radii: list[float], labels: list[int],
                       radius: float) -> tuple[int, int]:
    """``(k, n)``: examples CERTIFY predicts correctly with a certified radius >= ``radius``."""
    k = sum(1 for p, r, y in zip(predictions, radii, labels) if p == y and p != ABSTAIN and r >= radius)
    return k, len(labels)


def expected_linear_radius(w: torch.Tensor, b: float, x: torch.Tensor) -> float:
    """``|w.x + b| / ||w||``: the L2 distance of ``x`` to the boundary of ``sign(w.x + b)`` (closed form)."""
    return abs(float(w.double().flatten() @ x.double().flatten()) + b) / float(w.double().norm())

