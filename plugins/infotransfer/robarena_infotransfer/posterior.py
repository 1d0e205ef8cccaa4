"""The Fisher of the weights and the optimal Gaussian weight posterior of P2 (Def. 0.5).

P2, Def. 0.5 (after Achille & Soatto 2019, "Where is the information in a deep neural network?"):
with the prior ``P(w) = N(0, lambda^2 I)``, the posterior ``Q(w|D) = N(w*, Sigma*)`` minimizing
``E_Q[L_D] + beta KL(Q || P)`` is ``Sigma* = beta/2 (F_w + beta/(2 lambda^2) I)^-1``, where
``F_w`` is the Fisher information of the weights (P2, "Preliminaries": the *true* Fisher,
``F = E_{x ~ p(x), y ~ p_w(y|x)}[grad log p_w(y|x) grad log p_w(y|x)^T]``). As is usual for
networks, only the diagonal of ``F_w`` is used, so ``Sigma*`` is diagonal too:

    log Sigma*_ii = log(beta/2) - log(F_ii + beta / (2 lambda^2)).

P2 does not give ``beta`` or ``lambda`` (nor does its Fig. 4); the defaults below are our choice,
explained in docs/probes.md ("P2 weight information"): ``lambda = 0.03`` (the scale of the
weights of small networks at initialization) and ``beta = 1e-8``, so that ``beta / (2 lambda^2)``
(about 5.6e-6) sits among the diagonal Fisher values of trained networks (on the digits models
about 1e-5 at the 90th percentile): the likelihood sets the variance of the informative weights
and the prior that of the rest.
"""
from __future__ import annotations

import copy
import math
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from bench.errors import UsageError

FisherKind = Literal["true", "empirical"]

#: Trade-off weight of Def. 0.5 (not stated in P2; our choice, see the module docstring).
DEFAULT_BETA = 1e-8
#: Standard deviation of the prior N(0, lambda^2 I) (not stated in P2; our choice).
DEFAULT_PRIOR_STD = 0.03


def diagonal_fisher(model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                    kind: FisherKind = "true", batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Diagonal Fisher information of ``model``'s weights, averaged over the examples ``x``.

    ``kind="true"`` (P2's definition): ``F_ii = 1/N sum_n sum_k p_w(k|x_n) (d log p_w(k|x_n) / d w_i)^2``,
    the expectation over the model's own labels taken exactly (one per-example gradient per class,
    no sampling). ``kind="empirical"``: the observed labels ``y`` instead,
    ``F_ii = 1/N sum_n (d log p_w(y_n|x_n) / d w_i)^2``.

    Per-example gradients come from ``torch.func.vmap(grad(...))`` over a functional call of
    ``model`` in its current mode (use eval mode: batch norm then uses its running statistics).

    Args:
        model: a classifier returning logits (N, K).
        x: inputs (N, C, H, W), on the model's device.
        y: labels (N,), required for ``kind="empirical"``.
        batch_size: examples per vectorized chunk (memory grows as batch_size x number of weights).

    Returns:
        name -> tensor shaped like the parameter (float32, on the parameter's device), for every
        parameter that requires a gradient.
    """
    if kind not in ("true", "empirical"):
        raise UsageError(f"Fisher kind {kind!r} is not 'true' or 'empirical'")
    if kind == "empirical" and y is None:
        raise UsageError("the empirical Fisher needs labels y; pass them or use kind='true'")
    if x.shape[0] == 0:
        raise UsageError("the Fisher needs at least one example")
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise UsageError(f"{type(model).__name__} has no trainable parameters to compute a Fisher for")
    frozen = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def log_likelihood(weights: dict, xi: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, ({**weights, **frozen}, buffers), (xi.unsqueeze(0),))
        return (F.log_softmax(logits.float(), dim=-1).squeeze(0) * onehot).sum()

    per_example_grad = vmap(grad(log_likelihood), in_dims=(None, 0, 0))
    total = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in params.items()}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        with torch.no_grad():
            logits = functional_call(model, ({**params, **frozen}, buffers), (xb,))
        num_classes = logits.shape[-1]
        if kind == "true":
            probs = F.softmax(logits.float(), dim=-1)
            labels_and_weights = [(torch.full((xb.shape[0],), k, device=xb.device, dtype=torch.long), probs[:, k])
                                  for k in range(num_classes)]
        else:
            yb = y[start:start + batch_size].to(xb.device)  # type: ignore[index]
            labels_and_weights = [(yb, torch.ones(xb.shape[0], device=xb.device))]
        for labels, weight in labels_and_weights:
            grads = per_example_grad(params, xb, F.one_hot(labels, num_classes).to(logits.dtype))
            for name, g in grads.items():
                g = g.float()
                total[name] += torch.einsum("n,n...->...", weight, g * g)
    return {name: t / x.shape[0] for name, t in total.items()}


def optimal_log_variance(fisher: torch.Tensor, beta: float = DEFAULT_BETA,
                         prior_std: float = DEFAULT_PRIOR_STD) -> torch.Tensor:
    """``log Sigma*_ii = log(beta/2) - log(F_ii + beta/(2 lambda^2))`` (P2, Def. 0.5), elementwise."""
    _check_posterior_args(beta, prior_std)
    fisher = fisher.double()
    return (math.log(beta / 2) - torch.log(fisher + beta / (2 * prior_std ** 2))).to(torch.float32)


def weight_information(weights: torch.Tensor, log_variance: torch.Tensor,
                       prior_std: float = DEFAULT_PRIOR_STD) -> dict[str, float]:
    """``KL(N(w, diag exp(log_variance)) || N(0, lambda^2 I))`` in nats, and its parts.

    ``KL = 1/2 sum_i [s_i + w_i^2/lambda^2 - 1 - log s_i]`` with ``s_i = Sigma_ii / lambda^2``.
    Returns ``kl`` (P2's "information in the weights", Def. 0.5, for this posterior), ``log_det``
    (``-1/2 sum_i log s_i``, the part that depends on the Fisher alone: how much the posterior
    shrinks below the prior) and ``mean_term`` (``1/2 sum_i w_i^2 / lambda^2``).
    """
    _check_posterior_args(1.0, prior_std)
    log_s = log_variance.double().flatten() - 2 * math.log(prior_std)
    w2 = weights.detach().double().flatten() ** 2 / prior_std ** 2
    log_det = float(-0.5 * log_s.sum())
    mean_term = float(0.5 * w2.sum())
    kl = float(0.5 * (torch.exp(log_s) - 1 - log_s).sum()) + mean_term
    return {"kl": kl, "log_det": log_det, "mean_term": mean_term}


def sample_weight_noise(log_variances: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One draw ``n ~ N(0, Sigma*)`` per parameter (diagonal), from ``generator`` (on its device)."""
    noise = {}
    for name, log_var in log_variances.items():
        eps = torch.randn(log_var.shape, generator=generator, device=generator.device, dtype=torch.float32)
        noise[name] = eps.to(log_var.device) * torch.exp(0.5 * log_var)
    return noise


def perturbed_copy(model: nn.Module, noise: dict[str, torch.Tensor]) -> nn.Module:
    """A deep copy of ``model`` (same mode) with weights ``w + n`` for every named parameter in ``noise``."""
    noisy = copy.deepcopy(model)
    named = dict(noisy.named_parameters())
    unknown = sorted(set(noise) - set(named))
    if unknown:
        raise UsageError(f"noise names parameters the model does not have: {unknown[:5]}")
    with torch.no_grad():
        for name, n in noise.items():
            named[name].add_(n.to(named[name].device, named[name].dtype))
    return noisy


def _check_posterior_args(beta: float, prior_std: float) -> None:
    if not beta > 0:
        raise UsageError(f"beta must be > 0, got {beta}")
    if not prior_std > 0:
        raise UsageError(f"the prior standard deviation lambda must be > 0, got {prior_std}")
