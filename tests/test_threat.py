"""ThreatModel: parsing, projection and validation against known answers."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bench.errors import ThreatModelViolation
from bench.threat import ThreatModel, parse_eps


def test_parse_eps_fraction_and_display():
    assert parse_eps("8/255") == (8 / 255, "8/255")
    assert parse_eps(8 / 255) == (8 / 255, "8/255")
    assert parse_eps(0.3) == (0.3, "0.3")
    assert parse_eps("inf")[0] == math.inf
    with pytest.raises(ValueError, match="not a number"):
        parse_eps("eight")


def test_threat_model_rejects_bad_values():
    with pytest.raises(ValidationError, match="eps must be >= 0"):
        ThreatModel(norm="Linf", eps=-0.1)
    with pytest.raises(ValidationError, match="eps = 0 allows no perturbation"):
        ThreatModel(norm="L2", eps=0)
    with pytest.raises(ValidationError, match="not a number"):
        ThreatModel(norm="Linf", eps=math.nan)
    with pytest.raises(ValidationError, match=r"exceeds the width 1 of the box \(0.0, 1.0\)"):
        ThreatModel(norm="Linf", eps=1.5)
    with pytest.raises(ValidationError, match="exceeds the width 0.5 of the box"):
        ThreatModel(norm="Linf", eps=0.6, bounds=(0.0, 0.5))
    with pytest.raises(ValidationError, match="diameter of a 3 x 1024 x 1024"):
        ThreatModel(norm="L2", eps=1e4)
    with pytest.raises(ValidationError, match="unbounded"):
        ThreatModel(norm="Linf", eps=math.inf)
    with pytest.raises(ValidationError):
        ThreatModel(norm="L3", eps=0.1)
    with pytest.raises(ValidationError):
        ThreatModel(norm="Linf", eps=0.1, bounds=(1.0, 0.0))
    with pytest.raises(ValidationError):
        ThreatModel(norm="Linf", eps=0.1, colour="red")


def test_radius_limits_are_inclusive():
    """The box's width (Linf) and the 3 x 1024 x 1024 diameter (L2) themselves are allowed."""
    assert ThreatModel(norm="Linf", eps=1.0).eps == 1.0
    assert ThreatModel(norm="Linf", eps=255, bounds=(0.0, 255.0)).eps == 255
    assert ThreatModel(norm="L2", eps=1024 * 3 ** 0.5).eps == pytest.approx(1773.6, abs=0.1)


def test_dump_is_the_one_cache_keys_were_built_from():
    """model_dump(mode="json") as before Eps existed: a float eps and eps_display beside it."""
    assert ThreatModel(norm="Linf", eps="8/255").model_dump(mode="json") == {
        "norm": "Linf", "eps": 8 / 255, "eps_display": "8/255", "targeted": False, "bounds": [0.0, 1.0]}
    assert ThreatModel(norm="L2", eps="0.50", targeted=True).model_dump(mode="json") == {
        "norm": "L2", "eps": 0.5, "eps_display": "0.50", "targeted": True, "bounds": [0.0, 1.0]}
    unbounded = ThreatModel(norm="unbounded").model_dump(mode="json")
    assert unbounded["eps"] == math.inf and unbounded["eps_display"] == "inf"
    assert type(ThreatModel(eps=0.1).model_dump(mode="json")["eps"]) is float


def test_round_trip_keeps_the_display():
    threat = ThreatModel(norm="Linf", eps=0.03137254901960784, eps_display="8/255")
    assert ThreatModel(**threat.model_dump()) == threat
    assert ThreatModel(**threat.model_dump(mode="json")).label == "Linf 8/255"
    assert ThreatModel(norm="Linf", eps=0.0313, eps_display="~8/255").label == "Linf ~8/255"


def test_labels():
    assert ThreatModel(norm="linf", eps="8/255").label == "Linf 8/255"
    assert ThreatModel(norm="L2", eps=0.5, targeted=True).label == "L2 0.5 targeted"
    assert ThreatModel(norm="unbounded").label == "unbounded"


@settings(max_examples=40, deadline=None)
@given(eps=st.floats(1e-6, 1.0), norm=st.sampled_from(["Linf", "L2"]), seed=st.integers(0, 10_000),
       scale=st.floats(0.0, 5.0))
def test_projection_lands_inside_ball_and_box(eps, norm, seed, scale):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 1, 5, 5, generator=gen)
    threat = ThreatModel(norm=norm, eps=eps)
    x_adv = threat.project(x + scale * torch.randn(x.shape, generator=gen), x)
    assert not threat.violations(x_adv, x).any()
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_linf_projection_is_the_nearest_point_clipping():
    x = torch.full((1, 1, 1, 3), 0.5)
    threat = ThreatModel(norm="Linf", eps=0.1)
    out = threat.project(torch.tensor([[[[0.9, 0.45, 0.0]]]]), x)
    assert torch.allclose(out, torch.tensor([[[[0.6, 0.45, 0.4]]]]))


def test_l2_projection_rescales_onto_the_sphere():
    x = torch.full((1, 1, 1, 2), 0.5)
    threat = ThreatModel(norm="L2", eps=0.1)
    out = threat.project(x + torch.tensor([[[[0.3, 0.4]]]]), x)  # delta norm 0.5 -> 0.1 along (0.6, 0.8)
    assert torch.allclose(out - x, torch.tensor([[[[0.06, 0.08]]]]), atol=1e-7)


def test_check_names_the_violation():
    x = torch.full((3, 1, 2, 2), 0.5)
    threat = ThreatModel(norm="Linf", eps=0.1)
    bad = x.clone()
    bad[1] += 0.3
    with pytest.raises(ThreatModelViolation, match=r"1 example\(s\) outside the threat model Linf 0.1"):
        threat.check(bad, x, who="attack X")
    with pytest.raises(ThreatModelViolation, match="shape"):
        threat.check(x[:2], x)
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ThreatModelViolation):
        threat.check(nan, x)
    threat.check(x + 0.1, x)  # on the boundary is allowed
