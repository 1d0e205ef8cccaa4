"""The penultimate representation ``z = f_w(x)`` (P2's "feature extractor"), batched, with clear errors."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from bench.errors import UsageError


def feature_map(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model.features`` (the ``bench.api.Classifier`` contract), or a UsageError saying how to get one."""
    features = getattr(model, "features", None)
    if not callable(features):
        raise UsageError(f"{type(model).__name__} has no features(x); P2's probes and tasks need the penultimate "
                         "representation: subclass bench.api.Classifier and implement extract()")

    def call(x: torch.Tensor) -> torch.Tensor:
        try:
            z = features(x)
        except NotImplementedError as exc:
            raise UsageError(f"{type(model).__name__} exposes no feature extractor ({exc})") from None
        return z.flatten(1)

    return call


@torch.no_grad()
def batched_features(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """Features (N, D) of ``x`` (N, C, H, W), computed on ``device`` in batches, returned float32 on the CPU."""
    if x.shape[0] == 0:
        raise UsageError("no examples to compute features of; the dataset split is empty")
    f = feature_map(model)
    return torch.cat([f(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)])
