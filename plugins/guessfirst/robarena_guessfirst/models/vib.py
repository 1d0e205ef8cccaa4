"""Variational information bottleneck classifier (Alemi, Fischer, Dillon, Murphy, "Deep
Variational Information Bottleneck", ICLR 2017), as P4 re-implements it (Appendix F): a
stochastic encoder layer inserted in the middle of the baseline CNN.

The encoder's output ``e`` (for the P4 CNN: the second fully connected layer, 256 wide; for
any other Classifier: its penultimate features) feeds two linear heads giving a diagonal
Gaussian ``p(z | x) = N(mu, diag(sigma^2))`` with ``mu = W_mu e + b_mu`` and
``sigma = softplus(W_s e + b_s - 5)`` (Alemi et al.'s parameterisation); ``z`` has the width of
``e`` (256 for the P4 CNN, Alemi et al.'s K = 256 on MNIST) and goes on through the rest of the
network (P4 CNN: FC 128, ReLU, head; otherwise the model's head).

Training samples ``z = mu + sigma * eps`` (one draw per example, ``eps`` from the defense's
generator). Evaluation is deterministic: ``forward`` decodes the mean ``z = mu`` (Alemi et
al. average 12 samples instead; the mean keeps the classifier deterministic, so every
attack and the runner's scoring see one fixed function).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from bench.api import Classifier

STD_OFFSET = 5.0  # sigma = softplus(pre - 5), Alemi et al. 2017


def gaussian_kl_to_standard(mu: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag std^2) || N(0, I))`` per row: ``1/2 sum_j (std_j^2 + mu_j^2 - 1 - 2 log std_j)``.

    ``mu``, ``std`` (N, d) -> (N,).
    """
    return 0.5 * (std.pow(2) + mu.pow(2) - 1.0 - 2.0 * torch.log(std)).sum(-1)


class VIBClassifier(Classifier):
    """Encoder -> (mu, softplus-std) heads -> z -> decoder; ``forward`` uses ``z = mu``.

    Args:
        backbone: the architecture to wrap (``guessfirst/cnn``: cut after FC 2; any other
            Classifier: cut before its head).
        std_offset: the ``-5`` inside the softplus (Alemi et al.).

    ``features(x)`` is ``mu`` (N, d); :meth:`encode` returns ``(mu, std)``; :meth:`decode`
    maps samples (N, d) or (S, N, d) to logits.
    """

    def __init__(self, backbone: nn.Module, std_offset: float = STD_OFFSET) -> None:
        from robarena_guessfirst.models.backbone import penultimate, require_classifier
        from robarena_guessfirst.models.cnn import GuessFirstCNN

        backbone = require_classifier(backbone, "the VIB defense")
        super().__init__(backbone.input_shape, backbone.num_classes)
        self.normalize = backbone.normalize
        if isinstance(backbone, GuessFirstCNN):
            encoder, dim, decoder = backbone.split_after_fc(2)
        else:
            encoder, dim, decoder = penultimate(backbone)
        self.encoder = encoder
        self.mu = nn.Linear(dim, dim)
        self.std_pre = nn.Linear(dim, dim)
        self.head = decoder
        self.std_offset = float(std_offset)
        self.bottleneck_dim = dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, sigma)`` of ``p(z | x)`` for [0, 1] inputs (N, C, H, W) -> 2 x (N, d)."""
        e = self.encoder(self.normalize(x))
        return self.mu(e), F.softplus(self.std_pre(e) - self.std_offset)

    def sample(self, mu: torch.Tensor, std: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Reparameterised draw ``mu + std * eps``, ``eps ~ N(0, I)`` from ``generator``."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + std * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def extract(self, z: torch.Tensor) -> torch.Tensor:
        return self.mu(self.encoder(z))
