"""Probes against hand computations on an affine model with chosen weights."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.api.probe import ProbeInput
from bench.errors import UsageError
from robarena_classics.models.linear import LinearClassifier
from robarena_classics.probes.generalization import GeneralizationProbe
from robarena_classics.probes.margin import MarginProbe

# z = (x1, x2, x1 + x2 - 0.5)
W = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
B = [0.0, 0.0, -0.5]


@pytest.fixture
def model():
    m = LinearClassifier((1, 1, 2), 3)
    with torch.no_grad():
        m.head.weight.copy_(torch.tensor(W))
        m.head.bias.copy_(torch.tensor(B))
    return m.eval()


def images(*pairs):
    return torch.tensor(pairs, dtype=torch.float32).view(-1, 1, 1, 2)


def inputs(x, y, x_train=None, y_train=None, batch_size=256):
    return ProbeInput(x=x, y=torch.tensor(y), num_classes=3, device=torch.device("cpu"), x_train=x_train,
                      y_train=None if y_train is None else torch.tensor(y_train), batch_size=batch_size)


def logits_by_hand(x1, x2):
    return [x1, x2, x1 + x2 - 0.5]


# test examples, their labels and margins z_y - max_{i != y} z_i worked out by hand:
#   (0.2, 0.6) y=1: z = (0.2, 0.6, 0.3)  ->  0.6 - 0.3 =  0.3
#   (0.9, 0.1) y=0: z = (0.9, 0.1, 0.5)  ->  0.9 - 0.5 =  0.4
#   (0.5, 0.5) y=2: z = (0.5, 0.5, 0.5)  ->  0.5 - 0.5 =  0.0  (on the boundary: not negative)
#   (1.0, 0.0) y=1: z = (1.0, 0.0, 0.5)  ->  0.0 - 1.0 = -1.0
TEST_X = [(0.2, 0.6), (0.9, 0.1), (0.5, 0.5), (1.0, 0.0)]
TEST_Y = [1, 0, 2, 1]
TEST_MARGINS = [0.3, 0.4, 0.0, -1.0]


def test_margin_probe_on_logits_matches_hand_computation(model):
    res = MarginProbe(MarginProbe.Config(bins=4))(model, inputs(images(*TEST_X), TEST_Y, images((0.9, 0.1)), [0]))
    np.testing.assert_allclose(res.arrays["test_margins"], TEST_MARGINS, atol=1e-6)
    assert res.scalars["mean"] == pytest.approx(-0.075, abs=1e-6)
    assert res.scalars["median"] == pytest.approx(0.15, abs=1e-6)   # mean of the middle two, 0.0 and 0.3
    assert res.scalars["frac_negative"] == 0.25
    # shared edges over train (0.4) and test margins: linspace(-1, 0.4, 5)
    np.testing.assert_allclose(res.arrays["hist_edges"], [-1.0, -0.65, -0.3, 0.05, 0.4], atol=1e-6)
    assert res.arrays["test_hist_counts"].tolist() == [1, 0, 1, 2]
    assert res.arrays["train_hist_counts"].tolist() == [0, 0, 0, 1]
    np.testing.assert_allclose(res.arrays["train_margins"], [0.4], atol=1e-6)


def test_margin_probe_on_probabilities_matches_hand_computation(model):
    res = MarginProbe(MarginProbe.Config(space="probs"))(model, inputs(images(*TEST_X), TEST_Y))
    expected = []
    for (x1, x2), y in zip(TEST_X, TEST_Y):
        e = [math.exp(v) for v in logits_by_hand(x1, x2)]
        p = [v / sum(e) for v in e]
        expected.append(p[y] - max(p[i] for i in range(3) if i != y))
    np.testing.assert_allclose(res.arrays["test_margins"], expected, atol=1e-6)
    assert "train_margins" not in res.arrays  # no train split given


def test_margin_probe_does_not_depend_on_batch_size(model):
    a = MarginProbe()(model, inputs(images(*TEST_X), TEST_Y, batch_size=1))
    b = MarginProbe()(model, inputs(images(*TEST_X), TEST_Y, batch_size=256))
    assert a.scalars == b.scalars


def test_generalization_probe_matches_direct_computation(model):
    train_x, train_y = [(0.2, 0.6), (0.9, 0.1)], [1, 0]    # both classified correctly
    test_x, test_y = [(0.7, 0.7), (1.0, 0.0)], [2, 1]       # z = (.7, .7, .9) correct; (1, 0, .5) wrong

    def ce(x, y):
        z = logits_by_hand(*x)
        return math.log(sum(math.exp(v) for v in z)) - z[y]

    train_loss = sum(ce(x, y) for x, y in zip(train_x, train_y)) / 2
    test_loss = sum(ce(x, y) for x, y in zip(test_x, test_y)) / 2
    res = GeneralizationProbe()(model, inputs(images(*test_x), test_y, images(*train_x), train_y, batch_size=1))
    s = res.scalars
    assert s["train_loss"] == pytest.approx(train_loss, abs=1e-6)
    assert s["test_loss"] == pytest.approx(test_loss, abs=1e-6)
    assert s["loss_gap"] == pytest.approx(test_loss - train_loss, abs=1e-6)
    assert (s["train_error"], s["test_error"], s["error_gap"]) == (0.0, 0.5, 0.5)
    np.testing.assert_allclose(res.arrays["test_losses"], [ce(x, y) for x, y in zip(test_x, test_y)], atol=1e-6)


def test_generalization_probe_n_train_takes_the_first_examples(model):
    res = GeneralizationProbe(GeneralizationProbe.Config(n_train=1))(
        model, inputs(images(*TEST_X), TEST_Y, images((0.2, 0.6), (1.0, 0.0)), [1, 1]))
    assert res.scalars["train_error"] == 0.0  # only (0.2, 0.6), which is correct


def test_generalization_probe_without_train_split_is_a_user_error(model):
    with pytest.raises(UsageError, match="training split"):
        GeneralizationProbe()(model, inputs(images(*TEST_X), TEST_Y))
