"""Cut points of a classifier, shared by the label-hypothesis and VIB wrappers.

For :class:`~robarena_guessfirst.models.cnn.GuessFirstCNN` the wrappers cut where P4 does
(after the second convolution; after the second fully connected layer). For any other
``bench.api.Classifier`` they cut between ``extract`` (the penultimate features) and ``head``.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.api import Classifier
from bench.errors import UsageError


class Extract(nn.Module):
    """``z -> model.extract(z)`` on normalized inputs (the model's head is not used)."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.extract(z)


def require_classifier(model: nn.Module, who: str) -> Classifier:
    if not isinstance(model, Classifier):
        raise UsageError(f"{who} wraps a bench.api.Classifier (a registered architecture such as guessfirst/cnn), "
                         f"got {type(model).__name__}")
    return model


def feature_dim(model: Classifier) -> int:
    """Width of ``model.extract``'s output: the head's ``in_features``, else one no-grad eval forward."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        return int(head.in_features)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref = next(model.parameters(), None)
            z = torch.zeros((2, *model.input_shape), device=ref.device if ref is not None else None)
            out = model.extract(z)
    finally:
        model.train(was_training)
    if out.dim() != 2:
        raise UsageError(f"{type(model).__name__}.extract returns shape {tuple(out.shape)}; expected (N, D)")
    return int(out.shape[1])


def penultimate(model: Classifier) -> tuple[nn.Module, int, nn.Module]:
    """(encoder = ``extract`` on normalized input, its width D, the model's head); the model's
    own ``head`` attribute is replaced by ``Identity`` so the encoder does not hold it twice."""
    dim = feature_dim(model)
    head = model.head
    model.head = nn.Identity()
    return Extract(model), dim, head
