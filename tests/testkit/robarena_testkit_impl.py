"""Implementations for the test plugin. Kept minimal and obviously correct."""
from __future__ import annotations

import torch
from pydantic import Field

from bench.api import Attack, Defense, Probe, ProbeResult
from bench.api.training import fit_with_loss
from bench.config import BaseConfig


class ERM(Defense):
    def fit(self, model, data, ctx):
        return fit_with_loss(model, data, self.train, ctx,
                             lambda m, x, y, c: torch.nn.functional.cross_entropy(m(x), y))


class Broken(Defense):
    def fit(self, model, data, ctx):
        raise RuntimeError("this defense always fails")


class SignConfig(BaseConfig):
    steps: int = Field(1, ge=1)


class SignStep(Attack):
    """Iterated signed-gradient (Linf) or normalized-gradient (L2) steps of size eps/steps."""

    Config = SignConfig
    supports_targeted = True

    def run(self, model, x, y, threat, generator, target=None):
        x_adv = x.clone()
        for _ in range(self.config.steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            loss = torch.nn.functional.cross_entropy(logits, target if threat.targeted else y, reduction="sum")
            (g,) = torch.autograd.grad(-loss if threat.targeted else loss, x_adv)
            if threat.norm == "Linf":
                step = g.sign()
            else:
                step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            x_adv = threat.project(x_adv.detach() + threat.eps / self.config.steps * step, x)
        return x_adv


class Escape(Attack):
    """Broken on purpose: returns examples outside the eps-ball."""

    norms = ("Linf",)

    def run(self, model, x, y, threat, generator, target=None):
        return torch.where(x > 0.5, x - 3 * threat.eps, x + 3 * threat.eps)


class UniformNoise(Attack):
    norms = ("Linf",)

    def run(self, model, x, y, threat, generator, target=None):
        noise = (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * threat.eps
        return threat.project(x + noise, x)


class Confidence(Probe):
    def run(self, model, data, generator):
        with torch.no_grad():
            p = model(data.x).softmax(dim=1).amax(dim=1)
        return ProbeResult({"mean_max_prob": p.mean()}, {"max_prob": p.numpy()})


class AdvGap(Probe):
    def run(self, model, data, generator):
        shifts = [float((rec.x_adv - data.x).abs().amax()) for rec in data.attacks.values()]
        return ProbeResult({"mean_shift": sum(shifts) / max(1, len(shifts))})


# --------------------------------------------------------------------------- claims
def attack_hurts(frame):
    """The strongest sign attack (lowest robust accuracy) lowers accuracy below the clean accuracy:
    one-sided exact McNemar test at level 0.05 (robust-correct examples are clean-correct)."""
    from bench.api.claim import ClaimResult, compare_nested_accuracies, robust_columns, select_where, value

    rows = select_where(frame, defense_id="robarena_testkit/erm")
    clean = value(rows, "clean")
    column = min(robust_columns(frame, "robarena_testkit/sign"), key=lambda c: value(rows, c))
    robust = value(rows, column)
    return ClaimResult.of(compare_nested_accuracies(rows, column, "clean", 0.05), {"clean": clean, "robust": robust})


def needs_missing_defense(frame):
    from bench.api.claim import ClaimResult, value

    return ClaimResult(True, {"x": value(frame, "clean", defense="not-trained")})


def raises(frame):
    raise ZeroDivisionError("boom")
