"""instance-margin probe: DeepFool distances on an affine classifier against |w.x + b| / ||w||_q."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.api.probe import AttackRecord, ProbeInput
from bench.errors import UsageError
from bench.threat import ThreatModel
from margins_helpers import registered
from robarena_margins.probes.instance_margin import InstanceMarginConfig, InstanceMarginProbe, pick_attack_column

DeepFool = registered("attack", "classics/deepfool")
LinearClassifier = registered("model", "classics/linear")

STEP_SLACK = 1e-4  # DeepFool adds it to every linearised step (reference code)


def affine_two_class(seed: int = 0) -> LinearClassifier:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LinearClassifier((1, 4, 4), 2)
    with torch.no_grad():
        model.head.weight.mul_(4.0)
        model.head.bias.zero_()  # boundary through the centre of the box: short distances, box never binds
        model.head.bias[1] = -0.5 * (model.head.weight[1] - model.head.weight[0]).sum()
    return model.eval()


def inputs(model: LinearClassifier, n: int = 30):
    """Points in [0.3, 0.7] labelled by the model, except the last three whose labels are flipped."""
    g = torch.Generator().manual_seed(1)
    x = 0.3 + 0.4 * torch.rand(n, 1, 4, 4, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[-3:] = 1 - y[-3:]
    return x, y


@pytest.mark.parametrize("norm, dual", [("L2", 2), ("Linf", 1)])
def test_deepfool_distances_equal_the_closed_form_boundary_distance(norm, dual):
    model = affine_two_class()
    x, y = inputs(model)
    threat = ThreatModel(norm=norm, eps=4.0 if norm == "L2" else 1.0)
    x_adv = DeepFool(DeepFool.Config(overshoot=0.0))(model, x, y, threat).x_adv
    column = f"deepfool {threat.label}"
    pin = ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu"), batch_size=7,
                     attacks={"PGD Linf 0.1": AttackRecord(x.clone(), ThreatModel(eps=0.1)),
                              column: AttackRecord(x_adv, threat)})
    result = InstanceMarginProbe()(model, pin)
    w = (model.head.weight[1] - model.head.weight[0]).detach().double().numpy()
    b = float((model.head.bias[1] - model.head.bias[0]).detach())
    closed = np.abs(x.flatten(1).double().numpy() @ w + b) / np.linalg.norm(w, ord=dual)
    dist = result.arrays["distances"]
    assert np.isnan(dist[-3:]).all()  # misclassified inputs have no margin here
    # one step onto the hyperplane plus DeepFool's 1e-4 slack, in the threat norm
    np.testing.assert_allclose(dist[:-3], closed[:-3] + STEP_SLACK, rtol=1e-4, atol=2e-5)
    assert result.scalars["mean"] == pytest.approx(closed[:-3].mean() + STEP_SLACK, rel=1e-4)
    assert result.scalars["median"] == pytest.approx(np.median(closed[:-3]) + STEP_SLACK, rel=1e-4)
    assert result.scalars["frac_found"] == 1.0


def test_points_the_attack_did_not_move_across_the_boundary_are_infinite_and_not_found():
    model = affine_two_class()
    x, y = inputs(model)
    threat = ThreatModel(norm="L2", eps=4.0)
    x_adv = DeepFool(DeepFool.Config(overshoot=0.0))(model, x, y, threat).x_adv
    x_adv[:5] = x[:5]  # as returned where the attack failed or exceeded eps
    pin = ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu"),
                     attacks={"fab L2 4": AttackRecord(x_adv, threat)})
    result = InstanceMarginProbe()(model, pin)
    dist = result.arrays["distances"]
    assert np.isinf(dist[:5]).all() and np.isfinite(dist[5:-3]).all()
    assert result.scalars["frac_found"] == pytest.approx(22 / 27)
    assert result.scalars["mean"] == pytest.approx(dist[5:-3].mean())


def test_attack_column_choice():
    cols = ["PGD-10 Linf 0.1", "FAB L2 8", "deepfool L2 8"]
    assert pick_attack_column(cols, None) == "deepfool L2 8"  # DeepFool first, then FAB
    assert pick_attack_column(cols[:2], None) == "FAB L2 8"
    assert pick_attack_column(cols, "FAB L2 8") == "FAB L2 8"
    assert pick_attack_column(["PGD-10 Linf 0.1"], None) is None
    with pytest.raises(UsageError, match="not in this row's attacks"):
        pick_attack_column(cols, "cw L2 1")


def test_a_row_without_a_minimal_attack_gets_nan_columns_and_a_flag():
    model = affine_two_class()
    x, y = inputs(model, 4)
    pin = ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu"),
                     attacks={"PGD Linf 0.1": AttackRecord(x.clone(), ThreatModel(eps=0.1))})
    result = InstanceMarginProbe()(model, pin)
    assert all(math.isnan(v) for v in result.scalars.values()) and set(result.scalars) == {"mean", "median",
                                                                                           "frac_found"}
    assert result.flags == ["instance-margin-without-minimal-attack"]
    with pytest.raises(UsageError, match="not in this row's attacks"):
        InstanceMarginProbe(InstanceMarginConfig(attack="deepfool L2 8"))(model, pin)


def test_no_clean_correct_point_gives_nan_columns():
    model = affine_two_class()
    x, y = inputs(model, 6)
    with torch.no_grad():
        y = 1 - model(x).argmax(1)
    pin = ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu"),
                     attacks={"deepfool L2 4": AttackRecord(x.clone(), ThreatModel(norm="L2", eps=4.0))})
    scalars = InstanceMarginProbe()(model, pin).scalars
    assert all(math.isnan(scalars[k]) for k in ("mean", "median", "frac_found"))
