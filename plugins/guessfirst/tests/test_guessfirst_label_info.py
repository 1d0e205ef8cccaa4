"""The held-out label-information estimator against a closed form, its limits, and the probe on a model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.api import ProbeInput
from bench.errors import UsageError
from robarena_guessfirst.label_info import heldout_label_information
from robarena_guessfirst.probes.heldout_label_info import HeldoutLabelInfo


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def two_gaussians_information(m: float) -> float:
    """I(Z; Y) in nats for Y uniform on {0, 1}, Z | Y ~ N(+-m, 1): log 2 - E_z[h(sigmoid(2 m z))]
    (the posterior is p(1 | z) = sigmoid(2 m z)), by the trapezoidal rule on a fine grid."""
    z = np.linspace(-12.0, 12.0, 200_001)
    density = 0.5 * (np.exp(-0.5 * (z - m) ** 2) + np.exp(-0.5 * (z + m) ** 2)) / math.sqrt(2 * math.pi)
    p = 1.0 / (1.0 + np.exp(-2.0 * m * z))
    h = -(p * np.log(np.clip(p, 1e-300, None)) + (1 - p) * np.log(np.clip(1 - p, 1e-300, None)))
    return math.log(2.0) - float(np.trapezoid(density * h, z))


def test_matches_the_mutual_information_of_two_gaussian_classes():
    """The logistic probe is well specified here (the posterior is logistic in z), so the held-out
    estimate converges to I(Z; Y); with 6,000 examples it is within 0.02 nats."""
    m, n = 1.0, 6000
    g = gen(0)
    y = torch.randint(0, 2, (n,), generator=g)
    z = (2.0 * y.double() - 1.0) * m + torch.randn(n, generator=g, dtype=torch.float64)
    truth = two_gaussians_information(m)
    assert 0.3 < truth < 0.4  # about 0.34 nats: far from both 0 and log 2
    found = heldout_label_information(z.view(-1, 1), y, 2, gen(1), l2=1e-4)
    assert found.info == pytest.approx(truth, abs=0.02)
    assert found.prior_ce == pytest.approx(math.log(2), abs=0.01)


def test_no_information_and_full_information():
    g = gen(2)
    n, k = 1000, 10
    y = torch.arange(n) % k
    noise = torch.randn(n, 8, generator=g, dtype=torch.float64)
    none = heldout_label_information(noise, y, k, gen(3))
    assert -0.1 < none.info < 0.02 and none.prior_ce == pytest.approx(math.log(k), abs=0.01)
    onehot = torch.nn.functional.one_hot(y, k).double()
    full = heldout_label_information(onehot, y, k, gen(3), l2=1e-4)
    assert full.info == pytest.approx(math.log(k), abs=0.05) and full.probe_accuracy == 1.0


def test_ridge_chosen_inside_the_fit_keeps_a_wide_label_free_representation_near_zero():
    """256 label-free features, 500 examples: a fixed weak ridge overfits (held-out CE far above the
    prior's, a strongly negative estimate); the ridge chosen on the fit folds' inner holdout does not,
    and still reads a weak class signal (10 random class means at 0.3 per feature) nearly in full."""
    g = gen(7)
    y = torch.arange(500) % 10
    free = torch.relu(torch.randn(500, 256, generator=g, dtype=torch.float64))
    assert heldout_label_information(free, y, 10, gen(8), l2=0.01).info < -0.5
    assert abs(heldout_label_information(free, y, 10, gen(8)).info) < 0.05
    means = torch.randn(10, 256, generator=g, dtype=torch.float64)
    signal = torch.relu(torch.randn(500, 256, generator=g, dtype=torch.float64) + 0.3 * means[y])
    assert heldout_label_information(signal, y, 10, gen(8)).info > 0.8 * math.log(10)


def test_invariant_to_rescaling_the_representation_unlike_a_fixed_kernel():
    g = gen(4)
    y = torch.arange(600) % 3
    z = torch.randn(600, 5, generator=g, dtype=torch.float64) + 0.7 * y.view(-1, 1).double()
    a = heldout_label_information(z, y, 3, gen(5))
    b = heldout_label_information(1e-3 * z, y, 3, gen(5))
    assert b.info == pytest.approx(a.info, abs=1e-6) and a.info > 0.2


def test_bad_inputs_are_usage_errors():
    z, y = torch.zeros(10, 2), torch.zeros(10, dtype=torch.long)
    with pytest.raises(UsageError, match="folds"):
        heldout_label_information(z, y, 2, gen(0), folds=1)
    with pytest.raises(UsageError, match="l2"):
        heldout_label_information(z, y, 2, gen(0), l2=[])
    with pytest.raises(UsageError, match=r"z \(N, D\)"):
        heldout_label_information(z, y[:-1], 2, gen(0))


def test_probe_on_a_label_hypothesis_net_is_per_hypothesis_at_fc2():
    from robarena_guessfirst.models.cnn import GuessFirstCNN
    from robarena_guessfirst.models.hypothesis import label_hypothesis_from

    torch.manual_seed(0)
    net = label_hypothesis_from(GuessFirstCNN((1, 8, 8), 3)).eval()
    x = torch.rand(60, 1, 8, 8, generator=gen(6))
    y = torch.arange(60) % 3
    data = ProbeInput(x=x, y=y, num_classes=3, device=torch.device("cpu"), batch_size=32)
    result = HeldoutLabelInfo(HeldoutLabelInfo.Config(folds=3))(net, data)
    per = result.arrays["per_hypothesis"]
    assert per.shape == (3,) and result.scalars["label_info"] == pytest.approx(float(per.mean()), rel=1e-12)
    # each hypothesis' value is the estimator on that hypothesis' FC 2 output, with the probe's folds
    rep = net.scores_and_hidden(x, 2)[1].detach()
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=torch.Generator().manual_seed(0)))
    for h in range(3):
        one = heldout_label_information(rep[:, h], y, 3, gen(seed), folds=3)
        assert per[h] == pytest.approx(one.info, rel=1e-9, abs=1e-12)
