"""Eps and Steps: parsing, display, refusals with reasons, pydantic use and JSON dumps."""
import copy
import json
import math
import pickle
from typing import Optional

import pytest
from pydantic import BaseModel, Field, ValidationError

from bench.eps import Eps, EpsError, EpsOrZero, EpsRule, as_written, check_radius, max_radius
from bench.errors import ConfigError
from bench.steps import Steps
from bench.threat import parse_eps


def test_value_and_display():
    assert Eps("8/255") == 8 / 255 and Eps("8/255").display == "8/255"
    assert Eps(8 / 255).display == "8/255"  # a multiple of 1/255 is shown as one
    assert Eps(0.3).display == "0.3" and Eps("0.30").display == "0.30" and Eps(" 4/255 ").display == "4/255"
    assert Eps(1 / 3).display == "0.333333" and Eps(4).display == "4" and Eps(4) == 4.0
    assert Eps(0.0313, "~8/255").display == "~8/255"
    assert Eps("inf", allow_inf=True) == math.inf and Eps("inf", allow_inf=True).display == "inf"


def test_it_is_a_float():
    eps = Eps("8/255")
    assert isinstance(eps, float)
    assert 2.5 * eps / 10 == 2.5 * (8 / 255) / 10 and type(eps * 2) is float
    assert json.dumps([eps]) == json.dumps([8 / 255])
    assert eps < Eps("16/255") and sorted([Eps(0.5), Eps("1/255")]) == [1 / 255, 0.5]
    assert hash(eps) == hash(8 / 255)


def test_copies_and_pickles_keep_the_display():
    eps = Eps(0.0313, "~8/255")
    for other in (pickle.loads(pickle.dumps(eps)), copy.deepcopy(eps), copy.copy(eps), Eps(eps)):
        assert other == eps and other.display == "~8/255"


@pytest.mark.parametrize("value, reason", [
    (math.nan, "not a number"), ("nan", "not a number"), ("eight", "not a number"), ("1/0", "not a number"),
    (-0.1, "negative"), ("-8/255", "negative"), (math.inf, "infinite"), ("inf", "infinite"),
    (0, "allows no perturbation"), ("0/255", "allows no perturbation"), (True, "number or text"),
    ([0.1], "number or text"),
])
def test_refusals_say_why(value, reason):
    with pytest.raises(EpsError, match=reason):
        Eps(value)


def test_errors_are_config_errors_and_value_errors():
    assert issubclass(EpsError, ConfigError) and issubclass(EpsError, ValueError)


def test_zero_only_where_allowed():
    assert Eps(0, allow_zero=True) == 0 and Eps(0, allow_zero=True).display == "0"


def test_pydantic_fields_parse_and_dump_as_floats():
    class Config(BaseModel):
        eps: Eps = Eps("8/255")
        radii: list[Eps] = Field(default_factory=lambda: [Eps("1/255")])
        start: EpsOrZero = Eps(0, allow_zero=True)
        step: Optional[Eps] = None

    config = Config(eps="4/255", radii=["2/255", 0.5], start=0, step="1/255")
    assert config.eps.display == "4/255" and [r.display for r in config.radii] == ["2/255", "0.5"]
    assert config.model_dump(mode="json") == {"eps": 4 / 255, "radii": [2 / 255, 0.5], "start": 0.0, "step": 1 / 255}
    assert json.loads(config.model_dump_json()) == config.model_dump(mode="json")
    assert Config().model_dump(mode="json")["eps"] == 8 / 255
    assert Config(**config.model_dump()).eps.display == "4/255"  # python-mode dumps keep the Eps
    for bad, reason in ((0, "allows no perturbation"), ("x", "not a number"), (-1, "negative"), ("inf", "infinite")):
        with pytest.raises(ValidationError, match=reason):
            Config(eps=bad)
    with pytest.raises(ValidationError, match="radii.1"):
        Config(radii=[0.1, 0])
    with pytest.raises(ValidationError, match="negative"):
        Config(start=-0.1)


def test_a_rule_with_a_norm_checks_the_radius():
    from typing import Annotated

    class Config(BaseModel):
        pixel: Annotated[Eps, EpsRule(norm="Linf")] = Eps("2/255")

    assert Config(pixel=1.0).pixel == 1.0
    with pytest.raises(ValidationError, match="exceeds the width 1 of the box"):
        Config(pixel=1.01)


def test_radius_limits():
    assert max_radius("Linf") == 1.0 and max_radius("Linf", (-1.0, 1.0)) == 2.0
    assert max_radius("L2") == pytest.approx(1024 * math.sqrt(3)) and max_radius("unbounded") == math.inf
    assert check_radius(Eps(8.0), "L2") == 8.0
    with pytest.raises(EpsError, match="Linf eps 2 exceeds the width 1 of the box"):
        check_radius(Eps(2), "Linf")


def test_as_written():
    assert as_written(Eps("1/255")) == "1/255" and as_written(Eps(0.0125)) == 0.0125
    assert type(as_written(Eps(0.0125))) is float


def test_parse_eps_keeps_its_contract():
    assert parse_eps("8/255") == (8 / 255, "8/255") and parse_eps(0.3) == (0.3, "0.3")
    assert parse_eps("inf")[0] == math.inf and parse_eps(0) == (0.0, "0")


def test_steps_refuses_zero_with_the_reason():
    class Config(BaseModel):
        steps: Steps = 10

    assert Config(steps=1).steps == 1 and Config().model_dump(mode="json") == {"steps": 10}
    for bad in (0, -3):
        with pytest.raises(ValidationError, match=rf"steps must be >= 1 \(got {bad}\).*returns its start point"):
            Config(steps=bad)
