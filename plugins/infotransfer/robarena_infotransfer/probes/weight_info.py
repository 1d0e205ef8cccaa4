"""Information in the weights: Fisher of the weights and the optimal Gaussian posterior (P2 Def. 0.5, Fig. 4).

P2, Def. 0.5: with prior ``N(0, lambda^2 I)`` the optimal posterior is ``N(w*, Sigma*)``,
``Sigma* = beta/2 (F_w + beta/(2 lambda^2) I)^-1``, and ``KL(Q* || P)`` is the information in the
weights. P2 Fig. 4 plots the log-variance of the parameters, which adversarial training
increases (less information). ``F_w`` is P2's Fisher ("Preliminaries"): the true Fisher,
labels drawn from the model, computed exactly and diagonally by
:func:`robarena_infotransfer.posterior.diagonal_fisher` over the first ``n`` training examples
(``split="train"``: ``F_w`` approximates the Hessian of the training loss ``L_D``).

Columns: ``mean_log_variance`` (mean over all weights of ``log Sigma*_ii``), ``information``
(``KL(N(w, Sigma*) || N(0, lambda^2 I))`` in nats), ``information_log_det`` (its Fisher-only part
``1/2 sum_i log(Sigma_prior / Sigma*_ii)``: zero when no weight is informative), ``fisher_trace``
(``sum_i F_ii``) and ``num_weights``. Arrays (one value per module owning parameters, in the order
of ``model.named_parameters()``): ``layer_mean_log_variance``, ``layer_mean_fisher``,
``layer_num_weights``.
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.errors import UsageError
from robarena_infotransfer.posterior import (DEFAULT_BETA, DEFAULT_PRIOR_STD, FisherKind, diagonal_fisher,
                                             optimal_log_variance, weight_information)


def fisher_cost(examples: int, kind: FisherKind, num_classes: Optional[int]) -> Optional[Cost]:
    """Passes of :func:`~robarena_infotransfer.posterior.diagonal_fisher` over ``examples`` examples: per
    example 1 forward (the logits, no gradient) and, per label (every class for the true Fisher, the observed
    one for the empirical), a per-example gradient (1 forward + 1 backward). None for the true Fisher without
    ``num_classes``."""
    labels = num_classes if kind == "true" else 1
    if labels is None:
        return None
    return (Cost(1.0, 0.0) + Cost.steps(labels)) * examples


class WeightInfoConfig(BaseConfig):
    fisher: FisherKind = Field("true", description="'true' (labels from the model, P2) or 'empirical' (observed labels)")
    split: Literal["train", "test"] = Field("train", description="examples the Fisher averages over")
    n: int = Field(256, ge=1, description="first n examples of the split")
    batch_size: int = Field(32, ge=1, description="examples per vectorized per-example-gradient chunk")
    beta: float = Field(DEFAULT_BETA, gt=0, description="trade-off beta of P2 Def. 0.5 (not stated in P2)")
    prior_std: float = Field(DEFAULT_PRIOR_STD, gt=0, description="lambda of the prior N(0, lambda^2 I) (not stated in P2)")


class WeightInfoProbe(Probe):
    """Diagonal Fisher of the weights, log-variance of the optimal posterior and the information in the weights.

    Args (``WeightInfoConfig``): fisher="true", split="train", n=256, batch_size=32,
    beta=1e-8, prior_std=0.03 (P2 gives no beta or lambda; see docs/probes.md).
    Needs the training split (``needs_train``) when ``split="train"``.
    """

    Config = WeightInfoConfig

    def cost(self, n: int, n_train: int, num_classes: Optional[int] = None) -> Optional[Cost]:
        """The diagonal Fisher (:func:`fisher_cost`) over the config's first ``n`` examples of its split
        (of ``n_train`` training or ``n`` evaluation examples). None for the true Fisher when ``num_classes``
        is not given (one per-example gradient per class; the dataset's classes are not told to
        ``cost(n, n_train)``)."""
        cfg = self.config
        used = min(cfg.n, n_train if cfg.split == "train" else n)
        return fisher_cost(used, cfg.fisher, num_classes)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        if cfg.split == "train":
            if data.x_train is None or data.y_train is None:
                raise UsageError("probe weight-info with split='train' needs the training split; "
                                 "its spec declares needs_train=True")
            x, y = data.x_train[:cfg.n], data.y_train[:cfg.n]
        else:
            x, y = data.x[:cfg.n], data.y[:cfg.n]
        fisher = diagonal_fisher(model, x.to(data.device), y.to(data.device), kind=cfg.fisher,
                                 batch_size=cfg.batch_size)
        params = dict(model.named_parameters())
        log_var = {name: optimal_log_variance(f, cfg.beta, cfg.prior_std) for name, f in fisher.items()}
        info = {"kl": 0.0, "log_det": 0.0}
        for name, lv in log_var.items():
            part = weight_information(params[name], lv, cfg.prior_std)
            info["kl"] += part["kl"]
            info["log_det"] += part["log_det"]
        num = sum(lv.numel() for lv in log_var.values())
        sum_log_var = sum(float(lv.double().sum()) for lv in log_var.values())
        layers: dict[str, list[str]] = {}
        for name in log_var:
            layers.setdefault(name.rpartition(".")[0], []).append(name)
        layer_log_var, layer_fisher, layer_count = [], [], []
        for names in layers.values():
            count = sum(log_var[n].numel() for n in names)
            layer_count.append(count)
            layer_log_var.append(sum(float(log_var[n].double().sum()) for n in names) / count)
            layer_fisher.append(sum(float(fisher[n].double().sum()) for n in names) / count)
        scalars = {
            "mean_log_variance": sum_log_var / num,
            "information": info["kl"],
            "information_log_det": info["log_det"],
            "fisher_trace": sum(float(f.double().sum()) for f in fisher.values()),
            "num_weights": float(num),
        }
        arrays = {"layer_mean_log_variance": np.array(layer_log_var), "layer_mean_fisher": np.array(layer_fisher),
                  "layer_num_weights": np.array(layer_count, dtype=np.int64)}
        return ProbeResult(scalars, arrays)
