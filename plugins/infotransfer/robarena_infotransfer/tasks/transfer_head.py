"""The new linear head of a linear-probe transfer (P2 "fine-tune the last layer", Tables 1-3).

Multinomial logistic regression on frozen features, fitted by scikit-learn (L-BFGS, L2 penalty
``1 / (2 C)`` on the weights, features standardised first), returned as a torch module
(:class:`StandardizedLinear`: the standardisation, then ``nn.Linear(D, K)``), so that the
transferred model ``head(features(x))`` is an ordinary differentiable network for the attack.
L-BFGS on a convex objective draws no random numbers: the fit is a deterministic function of the
features.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from bench.errors import UsageError

ABSENT_CLASS_BIAS = -1e4  # logit bias of a class absent from the head's training data: never predicted


class StandardizedLinear(nn.Module):
    """``linear((z - mean) / scale)``: z (N, D) -> logits (N, K); ``mean``, ``scale`` (D,) are buffers."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, linear: nn.Linear) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        self.linear = linear

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear((z - self.mean) / self.scale)


def fit_linear_head(z: torch.Tensor, y: torch.Tensor, num_classes: int, c: float = 1.0,
                    max_iter: int = 1000) -> StandardizedLinear:
    """Fit a linear head with ``num_classes`` outputs on features ``z`` (N, D) and labels ``y`` (N,).

    Args:
        c: inverse L2 regularisation strength (scikit-learn's ``C``) on standardised features.
        max_iter: L-BFGS iterations.
    Returns a float32 CPU :class:`StandardizedLinear` computing the fitted model's logits (classes absent
    from ``y`` get zero weights and a bias of ``ABSENT_CLASS_BIAS``).
    """
    y_np = y.cpu().numpy().astype(np.int64)
    present = np.unique(y_np)
    if present.shape[0] < 2:
        raise UsageError(f"the target's training split has {present.shape[0]} class(es); a linear probe needs >= 2")
    if present.min() < 0 or present.max() >= num_classes:
        raise UsageError(f"target labels must lie in 0..{num_classes - 1}")
    x = z.double().cpu().numpy()
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=c, max_iter=max_iter).fit(scaler.transform(x), y_np)
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: sigmoid(w.x + b) = softmax([-(w.x + b) / 2, (w.x + b) / 2])[1]
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight = np.zeros((num_classes, x.shape[1]))
    bias = np.full(num_classes, ABSENT_CLASS_BIAS)
    weight[clf.classes_], bias[clf.classes_] = coef, intercept
    linear = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))
    # StandardScaler's scale_ is 1 for constant features, so the division is always defined
    return StandardizedLinear(torch.from_numpy(scaler.mean_), torch.from_numpy(scaler.scale_), linear)
