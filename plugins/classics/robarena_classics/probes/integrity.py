"""Attack-failure indicators that need the model: masked gradients, randomness, unconverged attacks.

The signs of gradient masking of Athalye, Carlini and Wagner, "Obfuscated Gradients Give a
False Sense of Security" (ICML 2018, Sec. 3.1 and 4) and of the checklist of Carlini et al.,
"On Evaluating Adversarial Robustness" (arXiv:1902.06705, 2019) that are properties of the
model rather than of the stored attack results. Computed on the evaluation subset (N examples):

* **Gradients** of the logit margin ``m(x) = z_y(x) - max_{i != y} z_i(x)`` (P1 Def. 3) with
  respect to the input, per example. The margin, not the cross-entropy, is differentiated:
  the cross-entropy gradient of a confidently correct example underflows in float32
  (softmax saturation) on any well-trained model, while a margin gradient is zero only when
  the logits do not move with the input (a quantisation or ``detach`` in the forward pass, a
  non-differentiable preprocessing layer). Per example: *zero* when ``||grad m||_2 == 0``,
  *NaN* when the gradient or margin is not finite, *tiny* when
  ``0 < ||grad m||_2 * D < tiny_ratio * |m|`` with ``D = sqrt(C * H * W)`` the L2 diameter of
  the [0, 1] input box: the linearised margin cannot reach the decision boundary anywhere in
  the box, so a gradient attack gets no usable direction.
* **Randomized output**: two forward passes of the subset in eval mode whose logits differ by
  more than ``output_atol + output_rtol * |z|`` anywhere. Randomized models need
  expectation-over-transformation attacks (Athalye et al. Sec. 4.3; ``classics/pgd-eot``).
* **Attack loss not converged** (needs the attack stage's outputs): per untargeted Linf or L2
  threat model of the row (unbounded and targeted threat models, and threat models with only
  transfer attacks, are skipped), take the examples that every attack at that threat model
  left correctly classified (and that are clean-correct), start each from the attack output
  with the highest cross-entropy, and run ``continue_steps`` more PGD steps on the
  cross-entropy (step ``continue_step * eps``, by default the attacks' scaled step
  :func:`bench.stats.default_step_size`: signed for Linf, unit-L2 for L2; projection
  onto the eps-ball around the clean input and the box). The rise of an example is the
  highest cross-entropy over the continued iterates minus the starting one. The threat model
  is flagged when the mean rise over those examples exceeds ``loss_tol`` (nats), or when the
  continued steps misclassify more than ``fooled_tol`` of the N examples: the attacks stopped
  short of a maximum of their loss and the robust accuracy at that threat model is an
  overestimate. A single-step attack evaluated next to a converged iterative one is not
  flagged: the start is the best point any of the threat model's attacks found.

Columns: ``grad_zero_frac``, ``grad_nan_frac``, ``grad_tiny_frac`` (fractions of N),
``grad_norm_median`` (median of the finite ``||grad m||_2``, NumPy convention), ``output_max_diff``
(largest absolute logit difference between the two passes), ``loss_rise`` (largest mean rise
over the checked threat models; 0 when no example was left robust) and ``continued_fooled``
(largest fraction of the N examples the continued steps misclassified); both NaN when no threat
model was checked.

Flags: ``zero-gradients`` (``grad_zero_frac > max_zero_frac``), ``nan-gradients``
(``grad_nan_frac > max_nan_frac``), ``tiny-gradients`` (``grad_tiny_frac > max_tiny_frac``),
``randomized-output``, ``attack-loss-not-converged:<threat>`` per flagged threat model.

Args (``IntegrityConfig``): max_zero_frac=0.05, max_nan_frac=0.0, max_tiny_frac=0.05,
tiny_ratio=1.0, output_atol=1e-5, output_rtol=1e-4, continue_steps=10, continue_step=None
(the step rule of the attacks' defaults, :func:`bench.stats.default_step_size`: Linf eps / 4,
L2 2.5 * eps / continue_steps, both 0.25 eps at 10 steps), loss_tol=0.05, fooled_tol=0.01.
Measured on the quick suite's two SmallCNNs (digits, 500 examples, Linf 0.1 and 0.05, each
attack alone): PGD with 5, 20 or 200 steps left a mean rise of at most 0.007 nats and the
continued steps fooled at most 0.4 % (the quick suite itself, FGSM + PGD-20: at most 0.012
nats and 0.2 %); PGD with one step of eps / 4 left 0.07 to 1.8 nats and 4.8 to 37 % fooled, and FGSM
alone at Linf 0.1 was flagged on both models (1.4 and 4.8 % fooled) but not at 0.05.
"""
from __future__ import annotations

import math
from collections import defaultdict
from contextlib import contextmanager
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.api import BaseConfig, Cost, Probe, ProbeInput, ProbeResult
from bench.api.probe import AttackRecord
from bench.stats import default_step_size
from bench.steps import Steps
from bench.threat import ThreatModel
from bench.toolkit import batched_logits, margin, steepest_direction


class IntegrityConfig(BaseConfig):
    max_zero_frac: float = Field(0.05, ge=0, le=1, description="flag when more examples have a zero margin gradient")
    max_nan_frac: float = Field(0.0, ge=0, le=1, description="flag when more examples have a non-finite gradient")
    max_tiny_frac: float = Field(0.05, ge=0, le=1, description="flag when more examples have a tiny margin gradient")
    tiny_ratio: float = Field(1.0, gt=0, description="tiny: ||grad m||_2 * sqrt(d) < tiny_ratio * |m|")
    output_atol: float = Field(1e-5, ge=0, description="absolute logit tolerance between two forward passes")
    output_rtol: float = Field(1e-4, ge=0, description="relative logit tolerance between two forward passes")
    continue_steps: Steps = Field(10, description="PGD steps continued from the attacks' outputs")
    continue_step: Optional[float] = Field(
        None, gt=0, description="continued step length as a fraction of eps; None (default) = the attacks' scaled "
                                "step: Linf 1/4, L2 2.5 / continue_steps (0.25 at 10 steps)")

    def absolute_step(self, threat: ThreatModel) -> float:
        """The continued steps' length at ``threat``: ``continue_step * eps``, or the default scaled step."""
        if self.continue_step is not None:
            return self.continue_step * float(threat.eps)
        return default_step_size(threat.norm, float(threat.eps), self.continue_steps)
    loss_tol: float = Field(0.05, ge=0, description="flag when the mean cross-entropy rises by more (nats)")
    fooled_tol: float = Field(0.01, ge=0, le=1, description="flag when the continued steps fool more of the N examples")


@contextmanager
def _input_gradients_only(model: nn.Module):
    """Freeze the parameters' ``requires_grad`` (only input gradients are taken); restore afterwards."""
    state = {p: p.requires_grad for p in model.parameters()}
    for p in state:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in state.items():
            p.requires_grad_(flag)


def margin_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                          batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ``||d m / d x||_2`` and margin ``m`` (both (N,), float64, CPU).

    A model whose output does not depend differentiably on its input (detached, or wrapped
    in ``torch.no_grad``) gets zero gradients.
    """
    norms, margins = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(device).detach().requires_grad_(True)
        yb = y[i:i + batch_size].to(device)
        with torch.enable_grad():
            m = margin(model(xb).float(), yb)
            grad = None
            if m.requires_grad:
                (grad,) = torch.autograd.grad(m.sum(), xb, allow_unused=True)
        grad = torch.zeros_like(xb) if grad is None else grad
        norms.append(grad.flatten(1).double().norm(dim=1).cpu())
        margins.append(m.detach().double().cpu())
    return torch.cat(norms), torch.cat(margins)


def _ce_and_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-example cross-entropy (N,), its input gradient (zero where the output ignores the input)
    and whether ``x`` is misclassified (N,)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x).float()
        loss = F.cross_entropy(logits, y, reduction="none")
        grad = torch.autograd.grad(loss.sum(), x, allow_unused=True)[0] if loss.requires_grad else None
    return loss.detach(), torch.zeros_like(x) if grad is None else grad, logits.detach().argmax(dim=1) != y


def continued_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor, threat: ThreatModel,
                  steps: int, step: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Continue PGD on the cross-entropy from ``start`` (N, C, H, W) for ``steps`` steps of length ``step``.

    Returns per example (CPU): the highest cross-entropy over the continued iterates minus the
    cross-entropy at ``start`` (N,), and whether any continued iterate is misclassified (N,) bool.
    """
    xa = start
    first = best = None
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for k in range(steps + 1):
        obj, grad, wrong = _ce_and_gradient(model, xa, y)
        first = obj if first is None else first
        best = obj if best is None else torch.maximum(best, obj)
        if k > 0:
            fooled |= wrong
        if k < steps:
            xa = threat.project(xa + step * steepest_direction(grad, threat.norm), x).detach()
    return (best - first).double().cpu(), fooled.cpu()


class IntegrityProbe(Probe):
    """Masked, NaN or tiny gradients, randomized outputs and unconverged attack losses (see module docstring)."""

    Config = IntegrityConfig

    def cost(self, n: int, n_train: int, attacks_per_threat: Optional[Sequence[int]] = None) -> Optional[Cost]:
        """The whole probe on ``n`` examples, an upper bound: 1 forward + 1 backward (margin gradients) and 2
        forwards (the randomness check) per example, then per checked threat model (untargeted Linf/L2 with
        a non-transfer attack) 1 forward per example and attack cell at it (``attacks_per_threat``: their
        counts) and ``continue_steps + 1`` forward + backward passes per example (all left robust). The
        threat models come from the row's attack cells, which ``cost(n, n_train)`` does not see: None
        without ``attacks_per_threat``."""
        if attacks_per_threat is None:
            return None
        steps = Cost.steps(self.config.continue_steps + 1)
        return (Cost(3, 1) + sum((Cost(a, 0) + steps for a in attacks_per_threat), Cost())) * n

    def run(self, model: nn.Module, data: ProbeInput, generator: torch.Generator) -> ProbeResult:
        # a randomized model draws from the global RNG: leave the caller's state as it was
        accelerator = data.device.type != "cpu"
        fork = torch.random.fork_rng(devices=[data.device] if accelerator else [],
                                     device_type=data.device.type if accelerator else None)
        with fork, _input_gradients_only(model):
            return self._indicators(model, data)

    def _indicators(self, model: nn.Module, data: ProbeInput) -> ProbeResult:
        cfg = self.config
        norms, margins = margin_gradient_norms(model, data.x, data.y, data.device, data.batch_size)
        finite = torch.isfinite(norms) & torch.isfinite(margins)
        diameter = math.sqrt(data.x[0].numel())  # L2 diameter of the [0, 1] box
        zero = finite & (norms == 0)
        tiny = finite & (norms > 0) & (norms * diameter < cfg.tiny_ratio * margins.abs())
        n = max(1, int(norms.shape[0]))
        scalars = {"grad_zero_frac": int(zero.sum()) / n, "grad_nan_frac": int((~finite).sum()) / n,
                   "grad_tiny_frac": int(tiny.sum()) / n,
                   "grad_norm_median": float(np.median(norms[finite].numpy())) if bool(finite.any()) else math.nan}
        flags = [name for name, column, limit in (("zero-gradients", "grad_zero_frac", cfg.max_zero_frac),
                                                  ("nan-gradients", "grad_nan_frac", cfg.max_nan_frac),
                                                  ("tiny-gradients", "grad_tiny_frac", cfg.max_tiny_frac))
                 if scalars[column] > limit]

        first = batched_logits(model, data.x, data.device, data.batch_size)
        second = batched_logits(model, data.x, data.device, data.batch_size)
        same = (first == second) | (first.isnan() & second.isnan())
        diff = torch.where(same, 0.0, (first - second).abs().nan_to_num(nan=math.inf))
        scalars["output_max_diff"] = float(diff.max()) if diff.numel() else 0.0
        if not bool(torch.isclose(first, second, rtol=cfg.output_rtol, atol=cfg.output_atol, equal_nan=True).all()):
            flags.append("randomized-output")

        checks = self._continuations(model, data, first.argmax(dim=1))
        scalars["loss_rise"] = max((rise for rise, _ in checks.values()), default=math.nan)
        scalars["continued_fooled"] = max((fooled for _, fooled in checks.values()), default=math.nan)
        flags += [f"attack-loss-not-converged:{label}" for label, (rise, fooled) in checks.items()
                  if rise > cfg.loss_tol or fooled > cfg.fooled_tol]
        arrays = {"grad_norms": norms.numpy(), "margins": margins.numpy(),
                  "loss_rise_per_threat": np.array([c[0] for c in checks.values()], dtype=np.float64),
                  "continued_fooled_per_threat": np.array([c[1] for c in checks.values()], dtype=np.float64)}
        return ProbeResult(scalars, arrays, flags)

    def _continuations(self, model: nn.Module, data: ProbeInput,
                       clean_pred: torch.Tensor) -> dict[str, tuple[float, float]]:
        """Threat label -> (mean continued-CE rise over the examples every attack left robust,
        fraction of all N examples the continued steps fooled), in label order."""
        groups: dict[str, list[AttackRecord]] = defaultdict(list)
        for record in data.attacks.values():
            threat = record.threat
            if threat.norm in ("Linf", "L2") and not threat.targeted:
                groups[threat.label].append(record)
        cfg = self.config
        y = data.y.cpu()
        out: dict[str, tuple[float, float]] = {}
        for label, records in sorted(groups.items()):
            if all(r.transfer for r in records):
                continue
            robust = clean_pred == y
            losses = []
            for record in records:
                logits = batched_logits(model, record.x_adv, data.device, data.batch_size)
                robust &= logits.argmax(dim=1) == y
                losses.append(F.cross_entropy(logits, y, reduction="none"))
            idx = robust.nonzero().flatten()
            if idx.numel() == 0:
                out[label] = (0.0, 0.0)
                continue
            best = torch.stack(losses).argmax(dim=0)  # per example: the attack output with the highest loss
            threat = records[0].threat
            rises, fooled = [], []
            for i in range(0, idx.numel(), data.batch_size):
                chunk = idx[i:i + data.batch_size]
                start = torch.stack([records[int(best[j])].x_adv[j] for j in chunk.tolist()]).to(data.device)
                rise, hit = continued_pgd(model, data.x[chunk].to(data.device), data.y[chunk].to(data.device), start,
                                          threat, cfg.continue_steps, cfg.absolute_step(threat))
                rises.append(rise)
                fooled.append(hit)
            out[label] = (float(torch.cat(rises).mean()), int(torch.cat(fooled).sum()) / max(1, int(y.shape[0])))
        return out
