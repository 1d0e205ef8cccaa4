"""The five P0 probes against direct computations (dense Fisher of a softmax-linear model, KL formulas)."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from torch import nn

from bench.api.probe import AttackRecord
from bench.errors import UsageError
from bench.threat import ThreatModel
from disentangle_helpers import closed_form_fisher, linf_record, probe_input, softmax_linear
from robarena_disentangle.common import different_class_pairs
from robarena_disentangle.probes.cckl import CCKL, CCKLConfig
from robarena_disentangle.probes.fisher_approx import FisherApprox, FisherApproxConfig
from robarena_disentangle.probes.fisher_split import FisherSplit, FisherSplitConfig
from robarena_disentangle.probes.g1g2 import G1G2, G1G2Config
from robarena_disentangle.probes.input_fisher import InputFisher, InputFisherConfig


def data(n=30, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 3, 4, generator=g, dtype=dtype), torch.arange(n) % 5


def probs(model, x):
    with torch.no_grad():
        return model(x).softmax(dim=1).numpy()


# ----------------------------------------------------------------------------- CCKL and pairs
def test_cckl_is_the_mean_kl_over_sampled_different_class_pairs():
    model, (x, y) = softmax_linear(), data()
    result = CCKL(CCKLConfig(n_pairs=400), seed=3)(model, probe_input(x, y))
    pairs, kl = result.arrays["pairs"], result.arrays["kl"]
    assert pairs.shape == (400, 2) and (y[pairs[:, 0]] != y[pairs[:, 1]]).all()
    p = probs(model, x)
    np.testing.assert_allclose(kl, [entropy(p[i], p[j]) for i, j in pairs], rtol=1e-10)
    assert result.scalars["cckl"] == pytest.approx(kl.mean()) and result.scalars["cckl_median"] == pytest.approx(
        np.median(kl))
    again = CCKL(CCKLConfig(n_pairs=400), seed=3)(model, probe_input(x, y))
    other = CCKL(CCKLConfig(n_pairs=400), seed=4)(model, probe_input(x, y))
    assert (again.arrays["pairs"] == pairs).all() and not (other.arrays["pairs"] == pairs).all()
    assert math.isnan(CCKL()(model, probe_input(x, torch.zeros_like(y))).scalars["cckl"])


def test_pairs_are_uniform_over_the_different_class_set():
    """y = (0, 1, 1, 1): S has 6 ordered pairs, each drawn with probability 1/6 (P0 Eq. 3)."""
    y = torch.tensor([0, 1, 1, 1])
    pairs = different_class_pairs(y, 60_000, torch.Generator().manual_seed(0))
    counts = Counter(map(tuple, pairs.tolist()))
    assert set(counts) == {(0, 1), (0, 2), (0, 3), (1, 0), (2, 0), (3, 0)}
    assert all(abs(c / 60_000 - 1 / 6) < 0.01 for c in counts.values())
    with pytest.raises(UsageError, match="two classes"):
        different_class_pairs(torch.zeros(5, dtype=torch.long), 3, torch.Generator())


def test_default_number_of_pairs_is_p0s():
    assert CCKL.Config().n_pairs == 25_896 == G1G2.Config().n_pairs  # P0 Fig. 5


# ----------------------------------------------------------------------------- input Fisher
def test_input_fisher_probe_matches_the_closed_form_of_softmax_linear():
    model, (x, y) = softmax_linear(seed=2), data(n=10)
    config = InputFisherConfig(power_n=6, n_eigvecs=3, tol=1e-6, power_iters=3000)
    result = InputFisher(config)(model, probe_input(x, y, batch_size=4))
    dense = closed_form_fisher(model, x)
    evals, evecs = torch.linalg.eigh(dense)
    fnorm = torch.linalg.matrix_norm(dense).numpy()
    np.testing.assert_allclose(result.arrays["fnorm"], fnorm, rtol=1e-10)
    np.testing.assert_allclose(result.arrays["trace"], dense.diagonal(dim1=1, dim2=2).sum(1).numpy(), rtol=1e-10)
    np.testing.assert_allclose(result.arrays["spectral"], evals[:, -1].numpy(), rtol=1e-10)
    np.testing.assert_allclose(result.arrays["spectral_power"], evals[:6, -1].numpy(), rtol=1e-9)
    overlap = np.abs((result.arrays["eigvecs"].reshape(3, -1) * evecs[:3, :, -1].numpy()).sum(1))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-5)
    assert result.arrays["eigvecs"].shape == (3, 1, 3, 4) and result.arrays["power_steps"].shape == (6,)
    s = result.scalars
    assert s["fnorm_mean"] == pytest.approx(fnorm.mean()) and s["log_fnorm_mean"] == pytest.approx(
        math.log(fnorm.mean()))
    assert s["spectral_mean"] == pytest.approx(evals[:, -1].mean().item()) and s["power_rel_error"] < 1e-9
    assert (result.arrays["correct"] == (model(x).argmax(1) == y).numpy()).all()


def test_input_fisher_defaults_and_no_power_iteration():
    c = InputFisher.Config()
    assert (c.power_n, c.power_iters, c.tol, c.n_eigvecs) == (100, 100, 1e-3, 4)
    model, (x, y) = softmax_linear(), data(n=5)
    result = InputFisher(InputFisherConfig(power_n=0))(model, probe_input(x, y))
    assert math.isnan(result.scalars["power_rel_error"]) and "eigvecs" not in result.arrays


# ----------------------------------------------------------------------------- G1 / G2
def test_g1_g2_match_the_dense_fisher_and_cckl_on_the_same_pairs():
    model, (x, y) = softmax_linear(seed=5), data(n=25)
    pin = probe_input(x, y, batch_size=7)
    result = G1G2(G1G2Config(n_pairs=120), seed=2)(model, pin)
    a = result.arrays
    i, j = a["pairs"][:, 0], a["pairs"][:, 1]
    dense = closed_form_fisher(model, x).numpy()
    eta = (x[j] - x[i]).flatten(1).numpy()
    g1 = 0.5 * np.einsum("na,nab,nb->n", eta, dense[i], eta)
    p = probs(model, x)
    kl = np.array([entropy(p[a_], p[b_]) for a_, b_ in zip(i, j)])
    np.testing.assert_allclose(a["g1"], g1, rtol=1e-9)
    np.testing.assert_allclose(a["kl"], kl, rtol=1e-9)
    np.testing.assert_allclose(a["g2"], kl - g1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a["g2_over_kl"], (kl - g1) / kl, rtol=1e-8)
    lam_max = np.linalg.eigvalsh(dense[i])[:, -1]
    assert (a["rayleigh"] <= lam_max * (1 + 1e-9)).all()  # P0 Eq. 16
    assert result.scalars["g1_mean"] == pytest.approx(g1.mean())
    cckl = CCKL(CCKLConfig(n_pairs=120), seed=2)(model, pin)
    assert result.scalars["kl_mean"] == pytest.approx(cckl.scalars["cckl"], rel=1e-12)


# ----------------------------------------------------------------------------- Fisher approximation
def test_fisher_approx_matches_direct_kl_and_closed_form_g1_with_box_clipping():
    model, (x, y) = softmax_linear(seed=6, dtype=torch.float32), data(n=9, dtype=torch.float32)
    g = torch.Generator().manual_seed(7)
    delta = 0.1 * torch.sign(torch.randn(x.shape, generator=g))
    delta[0] = 0.0  # an unmoved example is left out
    x_adv = (x + delta).clamp(0, 1)
    pin = probe_input(x, y, batch_size=4, attacks={"PGD-20 Linf 0.1": linf_record(x_adv)})
    result = FisherApprox(FisherApproxConfig(eps=["8/255", 0.01, "2/255"], source="attack"))(model, pin)
    assert next(model.parameters()).dtype == torch.float32  # the float64 copy leaves the model alone
    model64, x64 = model.double(), x.double()
    dense = closed_form_fisher(model64, x64).numpy()
    p = probs(model64, x64)
    sign = torch.sign((x_adv - x).double())
    assert list(result.arrays["eps"]) == pytest.approx([2 / 255, 0.01, 8 / 255])  # sorted
    for k, (eps, label) in enumerate([(2 / 255, "2/255"), (0.01, "0.01"), (8 / 255, "8/255")]):
        eta = ((x64 + eps * sign).clamp(0, 1) - x64)
        q = probs(model64, x64 + eta)
        kl = np.array([entropy(p[n], q[n]) for n in range(9)])
        e = eta.flatten(1).numpy()
        g1 = 0.5 * np.einsum("na,nab,nb->n", e, dense, e)
        np.testing.assert_allclose(result.arrays["kl"][k], kl, rtol=1e-8)
        np.testing.assert_allclose(result.arrays["g1"][k], g1, rtol=1e-8)
        assert kl[0] == 0 and math.isnan(result.arrays["rel_error"][k][0])
        rel = np.abs(kl[1:] - g1[1:]) / kl[1:]
        assert result.scalars[f"rel_error@{label}"] == pytest.approx(rel.mean(), rel=1e-7)
    assert result.scalars["rel_error"] == result.scalars["rel_error@8/255"]


def test_fisher_approx_error_vanishes_for_tiny_eps_on_a_smooth_model():
    """G2/KL -> 0 as eps -> 0 (P0 Eq. 10): linear decay over three decades of eps."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Softplus(), nn.Linear(16, 5)).eval()
    x, y = data(n=12, dtype=torch.float32)
    x = 0.25 + 0.5 * x  # inside the box: no clipping
    x_adv = x + 0.2 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(3)))
    pin = probe_input(x, y, attacks={"pgd Linf 0.2": AttackRecord(x_adv, ThreatModel(norm="Linf", eps=0.2))})
    result = FisherApprox(FisherApproxConfig(eps=[1e-4, 1e-3, 1e-2], source="attack"))(net, pin)
    errors = [result.scalars[f"rel_error@{e}"] for e in ("0.0001", "0.001", "0.01")]
    assert errors[0] < 1e-3 and errors[1] == pytest.approx(10 * errors[0], rel=0.1)
    assert errors[2] == pytest.approx(10 * errors[1], rel=0.2)


def test_fisher_approx_picks_its_attack_and_rejects_bad_input():
    model, (x, y) = softmax_linear(dtype=torch.float32), data(n=6, dtype=torch.float32)
    l2 = ThreatModel(norm="L2", eps=0.5)
    x_l2 = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    attacks = {"DF L2 0.5": AttackRecord(x_l2, l2), "PGD-20 Linf 0.1": linf_record((x + 0.1).clamp(0, 1)),
               "CW Linf 0.1": linf_record((x - 0.1).clamp(0, 1))}
    pin = probe_input(x, y, attacks=attacks)
    default = FisherApprox(FisherApproxConfig(eps=[0.1], source="attack"))(model, pin)
    named = FisherApprox(FisherApproxConfig(eps=[0.1], attack="PGD-20", source="attack"))(model, pin)
    cw = FisherApprox(FisherApproxConfig(eps=[0.1], attack="CW Linf 0.1", source="attack"))(model, pin)
    assert default.scalars == named.scalars != cw.scalars  # the default is the first Linf attack
    normalized = FisherApprox(FisherApproxConfig(eps=[0.5], attack="DF", direction="normalized", clip=False,
                                                 source="attack"))
    kl = normalized(model, pin).arrays["kl"][0]
    step = 0.5 * (x_l2 - x) / (x_l2 - x).flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    with torch.no_grad():
        direct = torch.nn.functional.kl_div(model(x + step).log_softmax(1), model(x).log_softmax(1),
                                            log_target=True, reduction="none").sum(1)
    np.testing.assert_allclose(kl, direct.numpy(), rtol=1e-4)
    with pytest.raises(UsageError, match="direction 'sign' needs an Linf attack"):
        FisherApprox(FisherApproxConfig(attack="DF"))(model, pin)
    with pytest.raises(UsageError, match="matches 0"):
        FisherApprox(FisherApproxConfig(attack="FGSM"))(model, pin)
    with pytest.raises(UsageError, match="needs the suite's attacks"):
        FisherApprox()(model, probe_input(x, y))
    with pytest.raises(ValueError, match="allows no perturbation"):
        FisherApproxConfig(eps=[0.0])
    with pytest.raises(ValueError, match="exceeds the width 1"):
        FisherApproxConfig(eps=[1.5])
    assert FisherApproxConfig(eps=[1.5], direction="normalized").eps == [1.5]  # an L2 radius
    assert [e.display for e in FisherApprox.Config().eps] == [f"{k}/255" for k in range(1, 9)]  # P0 Table 2
    assert FisherApprox.Config().model_dump(mode="json")["eps"] == [f"{k}/255" for k in range(1, 9)]  # as written


# ----------------------------------------------------------------------------- robust / non-robust split
def test_fisher_split_partitions_the_correct_examples():
    model, (x, y) = softmax_linear(seed=8), data(n=40)
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = torch.where(torch.arange(40) % 4 == 0, (pred + 1) % 5, pred)  # a quarter misclassified
    x_adv = (x + 0.3 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(9)))).clamp(0, 1)
    pin = probe_input(x, y, batch_size=16, attacks={"PGD-20 Linf 0.3": linf_record(x_adv, 0.3)})
    result = FisherSplit(FisherSplitConfig())(model, pin)
    s, a = result.scalars, result.arrays
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).numpy()
        robust = correct & (model(x_adv).argmax(1) == y).numpy()
    assert s["n_correct"] == correct.sum() == 30 and s["n_robust"] + s["n_nonrobust"] == s["n_correct"]
    assert (a["robust"] == robust).all() and (a["correct"] == correct).all()
    assert 0 < s["n_robust"] < 30
    fnorm = torch.linalg.matrix_norm(closed_form_fisher(model, x)).numpy()
    np.testing.assert_allclose(a["fnorm"], fnorm, rtol=1e-10)
    np.testing.assert_allclose(np.sort(a["fnorm_robust"]), np.sort(fnorm[robust]), rtol=1e-10)
    np.testing.assert_allclose(np.sort(a["fnorm_nonrobust"]), np.sort(fnorm[correct & ~robust]), rtol=1e-10)
    assert s["fnorm_robust"] == pytest.approx(fnorm[robust].mean())
    assert s["log_fnorm_nonrobust"] == pytest.approx(math.log(fnorm[correct & ~robust].mean()))
    none_robust = FisherSplit()(model, probe_input(x, (pred + 1) % 5, attacks=pin.attacks))
    assert none_robust.scalars["n_correct"] == 0 and math.isnan(none_robust.scalars["fnorm_robust"])
