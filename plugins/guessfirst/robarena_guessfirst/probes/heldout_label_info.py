"""Label information ``I(R; Y)`` by a held-out probe classifier (independent of the IE regularizer).

Measures, on the evaluation subset, the cross-fitted estimate ``H(Y) - CE`` of
:func:`robarena_guessfirst.label_info.heldout_label_information` (Barber and Agakov's bound with a
multinomial logistic-regression probe, every example scored by a probe fitted on the other folds):

* label-hypothesis networks (C-JS, C-DV, ...): at the output of FC layer ``hypothesis_layer``
  (P4: the second, the layer the IE regularizer acts on), one estimate per hypothesis y (``I(R_y; Y)``,
  Y the ground-truth class), the column the mean over hypotheses;
* any other classifier: at ``features(x)``, the penultimate representation;
* ``layer = "features"`` forces ``features(x)`` for every model.

Unlike ``guessfirst/mmd-label-info`` (which measures the regularizer's own MMD objective), this
estimator shares no kernel, bandwidth or objective with IE; see :mod:`robarena_guessfirst.label_info`
for why it is the one P4's "IE lowers label information" claim is decided on.

Columns: ``label_info`` (nats; about 0 = no label information a linear probe can read, at most about
``H(Y)`` = log 10 for ten balanced classes), ``probe_ce``, ``prior_ce`` (held-out cross-entropies of
the probe and of the class frequencies), ``probe_accuracy``. Arrays: ``per_hypothesis`` (H,).
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_guessfirst.label_info import L2_GRID, heldout_label_information
from robarena_guessfirst.probes.mmd_label_info import MMDLabelInfo


class HeldoutLabelInfoConfig(BaseConfig):
    layer: Literal["auto", "features"] = Field("auto", description="'auto': hypothesis layer for label-hypothesis "
                                                                   "nets, features otherwise")
    hypothesis_layer: int = Field(2, ge=1, description="FC layer after the concatenation (P4's IE layer: 2)")
    folds: int = Field(5, ge=2, description="cross-fitting folds")
    l2: Optional[float] = Field(None, ge=0, description="ridge of the logistic probe (standardized features); None: "
                                                        "chosen per fit from 10, 1, 0.1, 0.01 on an inner holdout")
    max_iter: int = Field(100, ge=1, description="L-BFGS iterations per fit")
    n: Optional[int] = Field(None, ge=10, description="first n evaluation examples (default: all)")


class HeldoutLabelInfo(Probe):
    """Mean over hypotheses of the held-out ``H(Y) - CE`` label information of a representation.

    Args (``HeldoutLabelInfoConfig``): layer="auto", hypothesis_layer=2, folds=5, l2=None (chosen
    from :data:`~robarena_guessfirst.label_info.L2_GRID` inside each fit), max_iter=100, n=None. The fold assignment is drawn from the probe's generator.
    """

    Config = HeldoutLabelInfoConfig

    def cost(self, n: int, n_train: int) -> Cost:
        """One forward pass per evaluation example (the probe fits are on the representations)."""
        return Cost(forward=float(min(n, self.config.n or n)))

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        cfg = self.config
        x, y = data.x[:cfg.n], data.y[:cfg.n].cpu()
        reader = MMDLabelInfo(MMDLabelInfo.Config(layer=cfg.layer, hypothesis_layer=cfg.hypothesis_layer))
        rep = reader.representation(model, x, data)
        rep = rep.flatten(1).unsqueeze(1) if rep.dim() != 3 else rep  # (N, H, D)
        if int((torch.bincount(y) > 0).sum()) < 2 or rep.shape[0] < cfg.folds:
            return ProbeResult({"label_info": float("nan"), "probe_ce": float("nan"), "prior_ce": float("nan"),
                                "probe_accuracy": float("nan")})
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
        found = [heldout_label_information(rep[:, h], y, data.num_classes, torch.Generator().manual_seed(seed),
                                           cfg.folds, L2_GRID if cfg.l2 is None else cfg.l2, cfg.max_iter)
                 for h in range(rep.shape[1])]
        per = np.array([f.info for f in found], dtype=np.float64)
        return ProbeResult({"label_info": float(per.mean()),
                            "probe_ce": float(np.mean([f.probe_ce for f in found])),
                            "prior_ce": float(np.mean([f.prior_ce for f in found])),
                            "probe_accuracy": float(np.mean([f.probe_accuracy for f in found]))},
                           {"per_hypothesis": per})
