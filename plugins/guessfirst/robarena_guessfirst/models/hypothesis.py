"""The label-hypothesis network T(x, y) of P4 (Sec. 2.1, Fig. 1, Appendix F).

A label-free trunk maps the image to features ``h(x)`` (for the P4 CNN: the output of the
second convolution, flattened); the one-hot hypothesis ``e_y`` is concatenated,
``[h(x); e_y]``, and fully connected layers 512-256-128 (ReLU) and a final Linear(128, 1)
without activation give the scalar score ``T(x, y)``. The deployed classifier evaluates all
K hypotheses and returns the logits ``[T(x, 0), ..., T(x, K-1)]``, so the prediction
``argmax_y T(x, y)`` is the usual arg-max (P4 Sec. 2.2) and every attack works unchanged.

Efficiency: the first layer acting on the concatenation is one ``nn.Linear(D + K, w1)``, and
``W [h; e_y] + b = W_h h + W_e[:, y] + b``, so it is computed once per image and the K
hypotheses only add a column of ``W_e``: exactly the concatenation, at the cost of one
image forward up to the first fully connected layer.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from bench.api import Classifier
from bench.errors import UsageError

DEFAULT_WIDTHS = (512, 256, 128)


class HypothesisHead(nn.Module):
    """FC stack on ``[h; e_y]`` for every hypothesis y: (N, D) -> T (N, K).

    ``layers[0]`` is ``Linear(D + K, w1)`` (columns D.. are the label embedding), then
    ``Linear(w_{i-1}, w_i)``; ReLU after each; ``out`` is ``Linear(w_last, 1)``.
    """

    def __init__(self, in_dim: int, num_classes: int, widths: Sequence[int] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        if len(widths) < 1:
            raise UsageError("HypothesisHead needs at least one hidden width")
        self.in_dim, self.num_classes = int(in_dim), int(num_classes)
        dims = [self.in_dim + self.num_classes, *[int(w) for w in widths]]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], 1)

    def hidden(self, h: torch.Tensor, upto: Optional[int] = None) -> torch.Tensor:
        """Post-ReLU output of the ``upto``-th FC layer (1-based; default: the last) for every
        hypothesis: (N, D) -> (N, K, w_upto)."""
        n_layers = len(self.layers)
        upto = n_layers if upto is None else int(upto)
        if not 1 <= upto <= n_layers:
            raise UsageError(f"hypothesis layer must be in 1..{n_layers}, got {upto}")
        first = self.layers[0]
        w_h, w_e = first.weight[:, :self.in_dim], first.weight[:, self.in_dim:]
        a = (h @ w_h.T + first.bias).unsqueeze(1) + w_e.T.unsqueeze(0)  # (N, K, w1)
        a = torch.relu(a)
        for layer in self.layers[1:upto]:
            a = torch.relu(layer(a))
        return a

    def from_hidden(self, a: torch.Tensor, start: int) -> torch.Tensor:
        """Continue from the post-ReLU output of FC layer ``start`` (1-based) to T (N, K)."""
        for layer in self.layers[start:]:
            a = torch.relu(layer(a))
        return self.out(a).squeeze(-1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.from_hidden(self.hidden(h), len(self.layers))


class LabelHypothesisNet(Classifier):
    """``x -> [T(x, 0), ..., T(x, K-1)]``: a classifier whose logits are hypothesis scores.

    Args:
        trunk: label-free module on the *normalized* input -> (N, D).
        trunk_dim: D.
        input_shape, num_classes: as for every Classifier.
        normalize: the backbone's normalization layer (shared, so pixel-space epsilons hold).
        widths: hidden widths after the concatenation (P4: 512, 256, 128).

    ``features(x)`` is the label-free trunk output (N, D); ``forward(x) = head(features(x))``
    with ``head`` the :class:`HypothesisHead`. :meth:`scores_and_hidden` also returns the
    hypothesis-conditioned representation used by the IE regularizer.
    """

    def __init__(self, trunk: nn.Module, trunk_dim: int, input_shape: Sequence[int], num_classes: int,
                 normalize: nn.Module, widths: Sequence[int] = DEFAULT_WIDTHS) -> None:
        super().__init__(input_shape, num_classes)
        self.normalize = normalize
        self.trunk = trunk
        self.head = HypothesisHead(trunk_dim, num_classes, widths)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.trunk(z)

    def scores_and_hidden(self, x: torch.Tensor, layer: int,
                          detach_trunk: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """T (N, K) and the post-ReLU output of FC ``layer`` for every hypothesis (N, K, w).

        With ``detach_trunk`` the returned representation is recomputed from detached trunk
        features, so a loss on it only reaches the fully connected layers up to ``layer``
        (P4 Appendix F: the MMD gradient updates the first and second FC layers only).
        """
        h = self.features(x)
        a = self.head.hidden(h, layer)
        t = self.head.from_hidden(a, layer)
        rep = self.head.hidden(h.detach(), layer) if detach_trunk else a
        return t, rep


def label_hypothesis_from(model: nn.Module, widths: Optional[Sequence[int]] = None) -> LabelHypothesisNet:
    """Build the label-hypothesis network on ``model``'s trunk.

    ``guessfirst/cnn``: the hypothesis joins after the second convolution (P4) and the FC
    widths are the CNN's own (``config.fc``); the CNN's FC layers and head are not used.
    Any other ``bench.api.Classifier``: it joins the penultimate features (``extract``) and
    the widths default to P4's 512-256-128.
    """
    from robarena_guessfirst.models.backbone import penultimate, require_classifier
    from robarena_guessfirst.models.cnn import GuessFirstCNN

    model = require_classifier(model, "a label-hypothesis (Guess-First) defense")
    if isinstance(model, GuessFirstCNN):
        trunk, dim = model.conv_trunk()
        widths = tuple(model.config.fc) if widths is None else widths
    else:
        trunk, dim, _ = penultimate(model)
        widths = DEFAULT_WIDTHS if widths is None else widths
    return LabelHypothesisNet(trunk, dim, model.input_shape, model.num_classes, model.normalize, widths)
