"""classics/integrity: masked, NaN and tiny gradients, randomized outputs, unconverged attack losses.

Known answers: a rounding (quantisation) layer or a ``detach`` has a zero derivative, so every
margin gradient is exactly zero; an affine model's margin gradient and margin are worked out by
hand for the tiny-gradient rule; on a two-class affine model PGD's Linf/L2 loss maximiser is
the vertex ``x - eps * sign(v)`` / ``x - eps * v / ||v||_2`` (``v = w_y - w_other``, inputs away
from the box edges), which gives the continued cross-entropy rise in closed form.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.api.probe import AttackRecord, ProbeInput
from bench.registry import get_registry
from bench.runner.plan import build_plan
from bench.runner.suite import resolve_suite
from bench.threat import ThreatModel
from classics_helpers import interior_inputs, linear_model
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.pgd import PGD
from robarena_classics.models.linear import LinearClassifier
from robarena_classics.probes.integrity import IntegrityProbe

GRADIENT_FLAGS = {"zero-gradients", "nan-gradients", "tiny-gradients"}


def probe_input(x, y, attacks=None, num_classes=10):
    return ProbeInput(x=x, y=y, num_classes=num_classes, device=torch.device("cpu"), attacks=attacks or {},
                      batch_size=128)


class Quantize(nn.Module):
    """Rounds inputs to ``levels`` grey levels: the derivative of ``torch.round`` is zero everywhere."""

    def __init__(self, levels: int = 16) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x):
        return torch.round(x * self.levels) / self.levels


class Detached(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x.detach())


class NaNGradient(nn.Module):
    """Finite outputs, NaN input gradients: ``where`` routes 0 * d sqrt(negative) = NaN backwards."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.where(x > 2, torch.sqrt(x - 2), x))


class AlwaysDropout(nn.Module):
    """Dropout left active in eval mode: a randomized model."""

    def __init__(self, model, p: float = 0.1):
        super().__init__()
        self.model, self.p = model, p

    def forward(self, x):
        return self.model(F.dropout(x, self.p, training=True))


@pytest.fixture(scope="module")
def subset(digits):
    return digits.x_test[:200], digits.y_test[:200]


# --------------------------------------------------------------------------- gradients
def test_a_trained_plain_model_trips_no_indicator(standard_digits_model, subset):
    x, y = subset
    out = IntegrityProbe()(standard_digits_model, probe_input(x, y))
    assert out.flags == []
    assert out.scalars["grad_zero_frac"] == out.scalars["grad_nan_frac"] == out.scalars["grad_tiny_frac"] == 0.0
    assert out.scalars["grad_norm_median"] > 0 and out.scalars["output_max_diff"] == 0.0
    assert math.isnan(out.scalars["loss_rise"]) and math.isnan(out.scalars["continued_fooled"])  # no attacks


@pytest.mark.parametrize("mask", ["quantize", "detach"])
def test_a_masked_model_has_zero_gradients_everywhere(standard_digits_model, subset, mask):
    x, y = subset
    model = nn.Sequential(Quantize(), standard_digits_model) if mask == "quantize" \
        else Detached(standard_digits_model)
    out = IntegrityProbe()(model.eval(), probe_input(x, y))
    assert out.scalars["grad_zero_frac"] == 1.0 and out.scalars["grad_norm_median"] == 0.0
    assert "zero-gradients" in out.flags and "randomized-output" not in out.flags


def test_nan_gradients_are_flagged(standard_digits_model, subset):
    x, y = subset
    out = IntegrityProbe()(NaNGradient(standard_digits_model).eval(), probe_input(x, y))
    assert out.scalars["grad_nan_frac"] == 1.0 and "nan-gradients" in out.flags
    assert out.scalars["grad_zero_frac"] == 0.0 and math.isnan(out.scalars["grad_norm_median"])


def _affine_2d(bias: float) -> LinearClassifier:
    """z = (x1 + bias, 0) on 1x2x2 inputs (d = 4): margin of class 0 is x1 + bias, its gradient e1."""
    model = LinearClassifier((1, 2, 2), 2)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
        model.head.bias.copy_(torch.tensor([bias, 0.0]))
    return model.eval()


def test_tiny_gradient_rule_matches_the_hand_computation():
    # ||grad m||_2 = 1 and D = sqrt(4) = 2: tiny iff 2 < |m| = |x1 + 1.5|
    x = torch.zeros(2, 1, 2, 2)
    x[1, 0, 0, 0] = 1.0                     # x1 = 0 -> m = 1.5 (not tiny); x1 = 1 -> m = 2.5 (tiny)
    y = torch.zeros(2, dtype=torch.long)
    out = IntegrityProbe()(_affine_2d(1.5), probe_input(x, y, num_classes=2))
    assert out.scalars["grad_tiny_frac"] == 0.5 and "tiny-gradients" in out.flags
    np.testing.assert_allclose(out.arrays["grad_norms"], [1.0, 1.0])
    np.testing.assert_allclose(out.arrays["margins"], [1.5, 2.5])
    relaxed = IntegrityProbe(IntegrityProbe.Config(max_tiny_frac=0.5))(_affine_2d(1.5),
                                                                      probe_input(x, y, num_classes=2))
    assert "tiny-gradients" not in relaxed.flags  # 0.5 is not more than 0.5


def test_a_scaled_down_gradient_is_tiny_and_a_plain_one_is_not():
    model = linear_model(3, seed=0)
    x = interior_inputs(64)
    y = model(x).argmax(dim=1)
    assert IntegrityProbe()(model, probe_input(x, y, num_classes=3)).scalars["grad_tiny_frac"] == 0.0
    with torch.no_grad():  # logits 1e-6 * W x + 10 * b: the margin comes from the bias, the input barely matters
        model.head.weight.mul_(1e-6)
        model.head.bias.mul_(10.0)
    out = IntegrityProbe()(model, probe_input(x, model(x).argmax(dim=1), num_classes=3))
    assert out.scalars["grad_tiny_frac"] == 1.0 and out.flags == ["tiny-gradients"]


# --------------------------------------------------------------------------- randomness
def test_dropout_left_on_in_eval_is_a_randomized_output(standard_digits_model, subset):
    x, y = subset
    state = torch.get_rng_state()
    out = IntegrityProbe()(AlwaysDropout(standard_digits_model).eval(), probe_input(x, y))
    assert "randomized-output" in out.flags and out.scalars["output_max_diff"] > 0
    assert torch.equal(torch.get_rng_state(), state)  # the probe leaves the global RNG as it found it


# --------------------------------------------------------------------------- attack convergence
def _binary_case(norm: str, eps: float):
    model = linear_model(2, seed=6)        # predicts both classes on these inputs
    x = interior_inputs(200, seed=4)        # in [0.3, 0.7]: eps <= 0.3 never reaches the box edges
    y = model(x).argmax(dim=1)               # every example clean-correct
    return model, x, y, ThreatModel(norm=norm, eps=eps)


def _expected_rise(model, x, y, eps: float, norm: str, start_frac: float) -> tuple[float, float]:
    """Closed form for a 2-class affine model: start at ``start_frac`` of the way to the maximiser.

    CE = softplus(-m), m = v . x + (b_y - b_other), v = w_y - w_other; the Linf (L2) maximiser
    of CE moves m by -eps ||v||_1 (-eps ||v||_2). Returns (mean CE rise over the examples
    still correct at the start, fraction of all examples the maximiser misclassifies).
    """
    w = model.head.weight.detach().double().numpy()
    b = model.head.bias.detach().double().numpy()
    yy = y.numpy()
    v = w[yy] - w[1 - yy]
    m0 = (v * x.flatten(1).double().numpy()).sum(axis=1) + b[yy] - b[1 - yy]
    reach = eps * (np.abs(v).sum(axis=1) if norm == "Linf" else np.linalg.norm(v, axis=1))
    start, best = m0 - start_frac * reach, m0 - reach
    robust = start > 0
    softplus = lambda t: np.logaddexp(0.0, -t)  # noqa: E731  CE of a 2-class model with margin t
    return float((softplus(best) - softplus(start))[robust].mean()), float((robust & (best < 0)).mean())


@pytest.mark.parametrize("norm, eps", [("Linf", 0.05), ("L2", 0.5)])
def test_one_short_pgd_step_is_not_converged(norm, eps):
    model, x, y, threat = _binary_case(norm, eps)
    x_adv = PGD(PGD.Config(steps=1, step_size=eps / 4, random_start=False))(model, x, y, threat).x_adv
    out = IntegrityProbe()(model, probe_input(x, y, {"pgd1": AttackRecord(x_adv, threat)}, num_classes=2))
    rise, fooled = _expected_rise(model, x, y, eps, norm, start_frac=0.25)
    assert rise > 0.05 and fooled > 0.01  # the case is not borderline for the default tolerances
    assert out.scalars["loss_rise"] == pytest.approx(rise, rel=1e-4)
    assert out.scalars["continued_fooled"] == pytest.approx(fooled, abs=1e-12)
    assert out.flags == [f"attack-loss-not-converged:{threat.label}"]


@pytest.mark.parametrize("norm, eps", [("Linf", 0.05), ("L2", 0.5)])
def test_a_converged_pgd_run_is_not_flagged(norm, eps):
    model, x, y, threat = _binary_case(norm, eps)
    x_adv = PGD(PGD.Config(steps=200, step_size=eps / 40, random_start=False))(model, x, y, threat).x_adv
    out = IntegrityProbe()(model, probe_input(x, y, {"pgd200": AttackRecord(x_adv, threat)}, num_classes=2))
    assert out.scalars["loss_rise"] == pytest.approx(0.0, abs=1e-5)
    assert out.scalars["continued_fooled"] == 0.0 and out.flags == []


def test_a_single_step_attack_beside_a_converged_one_is_not_flagged():
    model, x, y, threat = _binary_case("Linf", 0.05)
    weak = PGD(PGD.Config(steps=1, step_size=0.0125, random_start=False))(model, x, y, threat).x_adv
    strong = PGD(PGD.Config(steps=200, step_size=0.00125, random_start=False))(model, x, y, threat).x_adv
    attacks = {"pgd1": AttackRecord(weak, threat), "pgd200": AttackRecord(strong, threat)}
    out = IntegrityProbe()(model, probe_input(x, y, attacks, num_classes=2))
    assert out.flags == [] and out.scalars["loss_rise"] == pytest.approx(0.0, abs=1e-5)


def test_transfer_only_targeted_and_unbounded_threat_models_are_not_checked():
    model, x, y, threat = _binary_case("Linf", 0.05)
    weak = PGD(PGD.Config(steps=1, step_size=0.0125, random_start=False))(model, x, y, threat).x_adv
    targeted = ThreatModel(norm="Linf", eps=0.05, targeted=True)
    attacks = {"transfer": AttackRecord(weak, threat, transfer=True), "targeted": AttackRecord(weak, targeted),
               "unbounded": AttackRecord(weak, ThreatModel(norm="unbounded"))}
    out = IntegrityProbe()(model, probe_input(x, y, attacks, num_classes=2))
    assert out.flags == [] and math.isnan(out.scalars["loss_rise"])
    attacks["white-box"] = AttackRecord(weak, threat)  # with a white-box attack beside it, the threat is checked
    assert IntegrityProbe()(model, probe_input(x, y, attacks, num_classes=2)).flags == \
        ["attack-loss-not-converged:Linf 0.05"]


def test_fgsm_on_the_trained_model_is_judged_against_continued_pgd(standard_digits_model, subset):
    """FGSM alone versus FGSM next to PGD-20 on a trained SmallCNN: only the first stops short."""
    x, y = subset
    threat = ThreatModel(norm="Linf", eps=0.1)
    fgsm = FGSM()(standard_digits_model, x, y, threat).x_adv
    pgd = PGD(PGD.Config(steps=20, step_size=0.0125))(standard_digits_model, x, y, threat).x_adv
    alone = IntegrityProbe()(standard_digits_model, probe_input(x, y, {"fgsm": AttackRecord(fgsm, threat)}))
    both = IntegrityProbe()(standard_digits_model, probe_input(x, y, {"fgsm": AttackRecord(fgsm, threat),
                                                                      "pgd": AttackRecord(pgd, threat)}))
    assert alone.flags == ["attack-loss-not-converged:Linf 0.1"] and both.flags == []


# --------------------------------------------------------------------------- registration and planning
def test_spec_runs_on_every_row_and_declares_its_columns():
    entry = get_registry(("classics",), autoload=False).get("probe", "classics/integrity")
    assert entry.spec.always and entry.spec.needs_attacks and not entry.spec.needs_train
    cfg = IntegrityProbe.Config()
    assert (cfg.max_zero_frac, cfg.max_nan_frac, cfg.max_tiny_frac, cfg.tiny_ratio) == (0.05, 0.0, 0.05, 1.0)
    assert (cfg.continue_steps, cfg.continue_step, cfg.loss_tol, cfg.fooled_tol) == (10, None, 0.05, 0.01)
    # the attacks' scaled step: Linf eps / 4, L2 2.5 eps / steps; both 0.25 eps at 10 steps
    assert cfg.absolute_step(ThreatModel(norm="Linf", eps="8/255")) == 2 / 255
    assert cfg.absolute_step(ThreatModel(norm="L2", eps=0.5)) == 0.125
    assert IntegrityProbe.Config(continue_steps=20).absolute_step(ThreatModel(norm="L2", eps=0.5)) == 0.0625
    assert IntegrityProbe.Config(continue_step=0.1).absolute_step(ThreatModel(norm="Linf", eps=0.3)) == 0.1 * 0.3


@pytest.mark.parametrize("integrity", [True, False])
def test_the_quick_suite_plans_integrity_on_each_row_unless_disabled(integrity):
    registry = get_registry(("classics",), autoload=False)
    suite = resolve_suite("quick", registry).model_copy(update={"integrity": integrity})
    plan = build_plan(suite, registry)
    cells = [p for p in plan.probe_cells if p.probe.qid == "classics/integrity"]
    if integrity:
        assert sorted(c.train.row_id for c in cells) == sorted(t.row_id for t in plan.train_cells)
        assert all({a.column for a in c.attacks} == {"fgsm Linf 0.1", "pgd Linf 0.1"} for c in cells)
    else:
        assert cells == [] and ("probe integrity (every row)", "the suite sets integrity = false") in plan.dropped
