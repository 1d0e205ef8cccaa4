"""loss-variation probe: closed form on a two-class linear model, sign and monotonicity, P1 defaults."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from bench.api.probe import ProbeInput
from margins_helpers import registered
from robarena_margins.probes.loss_variation import LossVariationConfig, LossVariationProbe

LinearClassifier = registered("model", "classics/linear")
SmallCNN = registered("model", "classics/small-cnn")


def softplus(t: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, t)


def two_class_linear(seed: int) -> LinearClassifier:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LinearClassifier((1, 4, 4), 2)
    with torch.no_grad():
        model.head.weight.mul_(8.0)
    return model


def test_two_class_linear_model_matches_the_closed_form_maximum():
    """CE = softplus(-m(x)), m = (w_y - w_o) . x + (b_y - b_o); over the Linf ball the largest CE is at
    d = -eps sign(w_y - w_o): softplus(-(m - eps ||w_y - w_o||_1)) (the box does not bind: x in [0.2, 0.8])."""
    model = two_class_linear(0)
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(40, 1, 4, 4, generator=g)
    y = torch.randint(0, 2, (40,), generator=g)
    eps = [0.01, 0.02, 0.04]
    out = LossVariationProbe(LossVariationConfig(eps=eps))(
        model, ProbeInput(x=x, y=y, num_classes=2, device=torch.device("cpu"), batch_size=16))
    w = model.head.weight.detach().double().numpy()
    b = model.head.bias.detach().double().numpy()
    flat = x.flatten(1).double().numpy()
    yn = y.numpy()
    a = w[yn] - w[1 - yn]                                  # (N, d)
    m = (a * flat).sum(1) + b[yn] - b[1 - yn]
    for k, r in enumerate(eps):
        expected = softplus(-(m - r * np.abs(a).sum(1))) - softplus(-m)
        np.testing.assert_allclose(out.arrays["variation"][k], expected, rtol=1e-4, atol=1e-5)
        assert out.scalars[f"mean@{r:g}"] == pytest.approx(expected.mean(), rel=1e-4, abs=1e-6)
        assert out.scalars[f"std@{r:g}"] == pytest.approx(expected.std(), rel=1e-3, abs=1e-6)
    assert out.scalars["mean"] == out.scalars["mean@0.04"]


def test_variation_is_nonnegative_and_nondecreasing_in_eps_on_a_cnn():
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = SmallCNN((1, 8, 8), 10)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(24, 1, 8, 8, generator=g), torch.randint(0, 10, (24,), generator=g)
    cfg = LossVariationConfig(eps=["4/255", "1/255", "2/255"], steps=3)  # given unsorted
    out = LossVariationProbe(cfg)(model, ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"),
                                                    batch_size=10))
    v = out.arrays["variation"]
    np.testing.assert_allclose(out.arrays["eps"], [1 / 255, 2 / 255, 4 / 255])
    assert v.shape == (3, 24) and (v >= 0).all() and (np.diff(v, axis=0) >= 0).all()
    assert (v[-1] > 0).any()  # the ascent does find higher losses
    assert set(out.scalars) == {"mean", "std", "mean@1/255", "std@1/255", "mean@2/255", "std@2/255",
                                "mean@4/255", "std@4/255"}


def test_defaults_are_p1_table_1_and_bad_radii_are_rejected():
    cfg = LossVariationConfig()
    assert [e.display for e in cfg.eps] == ["1/255", "2/255", "4/255"] and cfg.eps == [1 / 255, 2 / 255, 4 / 255]
    assert cfg.steps == 10 and cfg.step_factor == 2.5 and not cfg.random_start
    for bad in ([0.0], [-0.1], ["x"], [0.1, 0.1], [], [1.5]):
        with pytest.raises(ValidationError):
            LossVariationConfig(eps=bad)
    with pytest.raises(ValidationError, match="steps must be >= 1"):
        LossVariationConfig(steps=0)


def test_radii_are_dumped_as_written():
    """Text stays text and numbers numbers in the JSON dump the probe's cache key is built from."""
    assert LossVariationConfig().model_dump(mode="json")["eps"] == ["1/255", "2/255", "4/255"]
    assert LossVariationConfig(eps=[0.0125, "2/255"]).model_dump(mode="json")["eps"] == [0.0125, "2/255"]
