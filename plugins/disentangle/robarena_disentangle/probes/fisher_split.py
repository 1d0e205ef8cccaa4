"""Fisher norm at robust vs non-robust correctly classified examples (P0 App. D, Fig. 9).

P0 Fig. 9 compares the distribution of ``||F_x||_F`` over CIFAR-10 test examples that an
adversarially trained VGG13 classifies correctly and robustly with those it classifies correctly
but not robustly (P0: the robust ones have markedly smaller Fisher norms). An example is
*correct* when ``argmax f(x) = y`` and *robust* when it is correct and ``argmax f(x_adv) = y`` for
the chosen attack cell's ``x_adv`` (both by this probe's own forward pass). The F-norm is
computed exactly from the L x L matrix ``M = B B^T`` (see :mod:`robarena_disentangle.fisher`).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from robarena_disentangle.common import batched_logits, choose_attack, subset
from robarena_disentangle.fisher import FisherOperator, gram_statistics, input_gradients_only


class FisherSplitConfig(BaseConfig):
    attack: Optional[str] = Field(None, description="attack column or label that decides robustness "
                                                    "(default: the suite's first Linf attack)")
    n: Optional[int] = Field(None, ge=1, description="first n evaluation examples (default: all)")
    batch_size: Optional[int] = Field(None, ge=1, description="examples per batch (default: the suite's [eval])")


class FisherSplit(Probe):
    """Mean F-norm over robust and over non-robust correctly classified examples.

    Columns: ``fnorm_robust``, ``fnorm_nonrobust`` (means; NaN for an empty group),
    ``log_fnorm_robust``, ``log_fnorm_nonrobust``, ``n_robust``, ``n_nonrobust``, ``n_correct``
    (= n_robust + n_nonrobust). Arrays: ``fnorm_robust``, ``fnorm_nonrobust`` (the two
    distributions), ``fnorm`` (N,), ``correct``, ``robust`` (N,) booleans.

    Args (``FisherSplitConfig``): attack=None (first Linf attack), n=None, batch_size=None.
    """

    Config = FisherSplitConfig

    def cost(self, n: int, n_train: int, num_classes: Optional[int] = None) -> Optional[Cost]:
        """None: the F-norm takes one vector-Jacobian product (a backward) per class and example, and the
        number of classes L is not among (config, n, n_train). Given ``num_classes``, per example used
        (N = min(n, config.n)): 3 forwards (clean logits, the VJP graph, the logits of x_adv) + L backwards."""
        if num_classes is None:
            return None
        return Cost(3, num_classes) * min(n, self.config.n or n)

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        x, y = subset(data, self.config.n)
        _, record = choose_attack(data.attacks, self.config.attack, "disentangle/fisher-split")
        bs = self.config.batch_size or data.batch_size
        x_adv = record.x_adv[:x.shape[0]].to(x.device, x.dtype)
        fnorm, correct = [], []
        with input_gradients_only(model):
            for i in range(0, x.shape[0], bs):
                op = FisherOperator(model, x[i:i + bs])
                fnorm.append(gram_statistics(op.gram())["fnorm"].cpu())
                correct.append((op.logits.argmax(dim=1) == y[i:i + bs]).cpu())
        fnorm_all = torch.cat(fnorm).numpy()
        correct_all = torch.cat(correct)
        still = (batched_logits(model, x_adv, bs).argmax(dim=1) == y).cpu()
        robust = (correct_all & still).numpy()
        nonrobust = (correct_all & ~still).numpy()
        groups = {"robust": fnorm_all[robust], "nonrobust": fnorm_all[nonrobust]}
        scalars = {"n_correct": float(correct_all.sum()), "n_robust": float(robust.sum()),
                   "n_nonrobust": float(nonrobust.sum())}
        for name, values in groups.items():
            mean = float(values.mean()) if values.size else float("nan")
            scalars[f"fnorm_{name}"] = mean
            scalars[f"log_fnorm_{name}"] = math.log(mean) if mean > 0 else float("nan")
        return ProbeResult(scalars, {"fnorm_robust": groups["robust"], "fnorm_nonrobust": groups["nonrobust"],
                                     "fnorm": fnorm_all, "correct": correct_all.numpy(), "robust": robust})
