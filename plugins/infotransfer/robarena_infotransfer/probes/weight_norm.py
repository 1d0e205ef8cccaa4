"""Euclidean norm of the weights, ||w||_2 (P2 Fig. 5).

P2 Example 0.4 shows that for a logistic model ``tr F_{z|x} = c ||w||_2^2``, which suggests that
adversarial training with L2 perturbations lowers ``||w||_2``; P2 Fig. 5 trains robust models at
several eps and finds this true only for eps > 1 ("two different regimes").

``w`` is every trainable parameter of the model (``model.parameters()``: weights, biases,
batch-norm scales and shifts, the head), as one vector; buffers (batch-norm running statistics,
the normalization constants) are not weights and are left out.

Columns: ``weight_norm`` (declared) = ``sqrt(sum_p ||p||^2)``; ``head_norm``, the same over the
parameters of ``model.head`` when the model has one (NaN otherwise); ``num_parameters``.
Arrays: ``layer_norms`` (P,), the norm of each parameter tensor in ``model.named_parameters()``
order, and ``layer_sizes`` (P,), their element counts.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from bench.api import Cost, Probe, ProbeInput, ProbeResult


def parameter_norms(module: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(norms, sizes) of every parameter tensor of ``module``, in ``named_parameters()`` order, float64."""
    params = [p.detach() for _, p in module.named_parameters()]
    norms = np.array([float(torch.linalg.vector_norm(p.double())) for p in params], dtype=np.float64)
    sizes = np.array([p.numel() for p in params], dtype=np.int64)
    return norms, sizes


class WeightNorm(Probe):
    """``||w||_2`` over all trainable parameters, with per-tensor norms for plots (P2 Fig. 5). No data used."""

    def cost(self, n: int, n_train: int) -> Cost:
        """No pass of the model: the norms are read from its parameters."""
        return Cost()

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        norms, sizes = parameter_norms(model)
        head = getattr(model, "head", None)
        head_norm = math.sqrt(float((parameter_norms(head)[0] ** 2).sum())) if isinstance(head, nn.Module) \
            else float("nan")
        scalars = {"weight_norm": math.sqrt(float((norms**2).sum())), "head_norm": head_norm,
                   "num_parameters": float(sizes.sum())}
        return ProbeResult(scalars, {"layer_norms": norms, "layer_sizes": sizes})
