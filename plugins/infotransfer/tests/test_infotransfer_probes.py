"""P2 probes against closed forms and independent computations: rep-fisher, weight-norm, entanglement."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from bench.api import Classifier, ProbeInput
from bench.testing.tiny import TinyConv, tiny_batch
from robarena_infotransfer.probes.entanglement import Entanglement, EntanglementConfig, pca_2d, snn_loss, \
    squared_distances
from robarena_infotransfer.probes.rep_fisher import RepFisher, RepFisherConfig, input_jacobian
from robarena_infotransfer.probes.weight_norm import WeightNorm

CPU = torch.device("cpu")


class LinearFeatures(Classifier):
    """z = A x + b on the flattened input: J = A for every x."""

    def __init__(self, a: torch.Tensor, input_shape=(1, 4, 4), num_classes=3, bias=True):
        super().__init__(input_shape, num_classes)
        self.body = nn.Linear(a.shape[1], a.shape[0], bias=bias)
        with torch.no_grad():
            self.body.weight.copy_(a)
            if bias:
                self.body.bias.normal_()
        self.head = nn.Linear(a.shape[0], num_classes)

    def extract(self, z):
        return self.body(z.flatten(1))


def probe_input(x, y, num_classes=3):
    return ProbeInput(x=x, y=y, num_classes=num_classes, device=CPU, batch_size=7)


@pytest.mark.parametrize("sigma,ridge", [(1.0, 0.0), (2.5, 0.0), (1.0, 1e-3)])
def test_rep_fisher_on_a_linear_feature_map_equals_the_closed_forms(sigma, ridge):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5, 16, generator=gen)
    model = LinearFeatures(a)
    x, y = tiny_batch((1, 4, 4), n=10, num_classes=3)
    out = RepFisher(RepFisherConfig(sigma=sigma, ridge=ridge, batch_size=4))(model, probe_input(x, y))
    a64 = a.double()
    trace = float((a64.T @ a64).trace()) / sigma**2  # tr(A^T A) / sigma^2
    logdet = float(torch.logdet(a64 @ a64.T / sigma**2 + ridge * torch.eye(5, dtype=torch.float64)))
    assert out.scalars["iso_trace_mean"] == pytest.approx(trace, rel=1e-5)
    assert out.scalars["iso_logdet_mean"] == pytest.approx(logdet, rel=1e-5, abs=1e-5)
    if ridge == 0.0:  # log det(A A^T / sigma^2) = log det(A A^T) - k log sigma^2
        assert out.scalars["iso_logdet_mean"] == pytest.approx(
            float(torch.logdet(a64 @ a64.T)) - 5 * math.log(sigma**2), rel=1e-5)
    top = float(torch.linalg.eigvalsh(a64 @ a64.T)[-1]) / sigma**2
    assert out.scalars["iso_lambda_max_mean"] == pytest.approx(top, rel=1e-5)
    assert out.scalars["rank_mean"] == 5 and out.scalars["feature_dim"] == 5
    assert out.arrays["trace"].shape == (10,) and np.allclose(out.arrays["trace"], trace, rtol=1e-5)
    assert out.arrays["spectrum_mean"].shape == (5,) and out.arrays["spectrum_mean"][0] == pytest.approx(top, rel=1e-5)


def test_rep_fisher_rank_deficient_map_counts_the_ridge_and_the_rank():
    a = torch.zeros(4, 16)
    a[0, 0], a[1, 1] = 2.0, 3.0  # rank 2 of k = 4
    out = RepFisher(RepFisherConfig(ridge=1e-4))(LinearFeatures(a), probe_input(*tiny_batch((1, 4, 4), n=3)))
    assert out.scalars["rank_mean"] == 2
    expected = math.log(4 + 1e-4) + math.log(9 + 1e-4) + 2 * math.log(1e-4)
    assert out.scalars["iso_logdet_mean"] == pytest.approx(expected, rel=1e-6)
    assert out.scalars["iso_trace_mean"] == pytest.approx(13.0, rel=1e-6)


def test_batched_jacobian_matches_autograd_per_example():
    """The batched k-backward-pass Jacobian equals torch's per-example Jacobian of a non-linear net."""
    torch.manual_seed(0)
    model = TinyConv((1, 8, 8), 10).eval()
    x, _ = tiny_batch((1, 8, 8), n=3)
    jac = input_jacobian(model.features, x)
    for i in range(3):
        ref = torch.autograd.functional.jacobian(lambda v: model.features(v[None])[0], x[i])
        assert torch.allclose(jac[i], ref.flatten(1), atol=1e-5)


def test_weight_norm_equals_a_direct_computation_and_ignores_buffers():
    torch.manual_seed(0)
    model = TinyConv((1, 8, 8), 10)
    x, y = tiny_batch()
    direct = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters()))
    out = WeightNorm()(model, probe_input(x, y, 10))
    assert out.scalars["weight_norm"] == pytest.approx(direct, rel=1e-12)
    head = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.head.parameters()))
    assert out.scalars["head_norm"] == pytest.approx(head, rel=1e-12)
    assert out.scalars["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert np.sqrt((out.arrays["layer_norms"] ** 2).sum()) == pytest.approx(direct, rel=1e-12)
    model.body[1].running_var.fill_(100.0)  # a buffer, not a weight
    assert WeightNorm()(model, probe_input(x, y, 10)).scalars["weight_norm"] == pytest.approx(direct, rel=1e-12)


def snn_direct(z: np.ndarray, y: np.ndarray, t: float) -> float:
    """Frosst et al. (2019) Eq. 1 written as loops, for points with a same-class partner."""
    terms = []
    for i in range(len(z)):
        num = sum(math.exp(-((z[i] - z[j]) ** 2).sum() / t) for j in range(len(z)) if j != i and y[j] == y[i])
        den = sum(math.exp(-((z[i] - z[k]) ** 2).sum() / t) for k in range(len(z)) if k != i)
        if any(y[j] == y[i] for j in range(len(z)) if j != i):
            terms.append(-math.log(num / den))
    return sum(terms) / len(terms)


def test_snn_loss_matches_the_direct_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(13, 3))
    y = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 0, 1, 3])  # class 3 has one member: left out
    d = squared_distances(torch.from_numpy(z))
    for t in (0.5, 2.0, 10.0):
        assert snn_loss(d, torch.from_numpy(y), t) == pytest.approx(snn_direct(z, y, t), rel=1e-10)


def clusters(separation: float, seed: int = 0, n_per=20, k=4, dim=6):
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(k, dim, generator=gen) * separation
    y = torch.arange(k).repeat_interleave(n_per)
    return means[y] + torch.randn(k * n_per, dim, generator=gen), y


class FixedFeatures(Classifier):
    """features(x) = the rows of a fixed table, looked up by x[:, 0, 0, 0] (an index)."""

    def __init__(self, table):
        super().__init__((1, 1, 1), 4)
        self.register_buffer("table", table.float())
        self.head = nn.Identity()

    def extract(self, z):
        return self.table[z[:, 0, 0, 0].round().long()]


def run_entanglement(z, y, **cfg):
    x = torch.arange(z.shape[0], dtype=torch.float32).view(-1, 1, 1, 1)
    return Entanglement(EntanglementConfig(**cfg))(FixedFeatures(z), probe_input(x, y, 4))


def test_separated_clusters_are_less_entangled_than_mixed_ones():
    sep = run_entanglement(*clusters(10.0)).scalars["snn_loss"]
    mixed = run_entanglement(*clusters(0.0)).scalars["snn_loss"]
    assert sep < 0.05 and mixed > 0.5 * math.log(4)
    assert sep < mixed


def test_optimised_temperature_is_the_grid_minimum_and_scale_free():
    z, y = clusters(1.5)
    out = run_entanglement(z, y)
    d = squared_distances(z)
    t = out.scalars["temperature"]
    assert out.scalars["snn_loss"] == pytest.approx(snn_loss(d, y, t), rel=1e-12)
    assert out.scalars["snn_loss"] <= min(snn_loss(d, y, s) for s in (0.1, 1.0, 10.0, 100.0)) + 1e-12
    assert run_entanglement(z * 7.0, y).scalars["snn_loss"] == pytest.approx(out.scalars["snn_loss"], rel=1e-6)
    fixed = run_entanglement(z, y, temperature=3.0)
    assert fixed.scalars["snn_loss"] == pytest.approx(snn_loss(d, y, 3.0), rel=1e-12)
    assert fixed.scalars["temperature"] == 3.0


def test_pca_arrays_recover_a_planar_cloud():
    gen = torch.Generator().manual_seed(1)
    plane = torch.randn(50, 2, generator=gen) * torch.tensor([3.0, 1.0])
    basis = torch.linalg.qr(torch.randn(6, 2, generator=gen))[0]  # orthonormal columns
    z = plane @ basis.T
    scores, ratio = pca_2d(z)
    assert ratio.sum() == pytest.approx(1.0, abs=1e-9)
    # distances are preserved by an orthonormal projection onto the plane
    assert np.allclose(squared_distances(torch.from_numpy(scores)).numpy(), squared_distances(z).numpy(), atol=1e-6)
    out = run_entanglement(*clusters(2.0))
    assert out.arrays["pca_x"].shape == out.arrays["pca_y"].shape == out.arrays["label"].shape == (80,)


def test_probe_defaults_are_pinned():
    assert RepFisherConfig().sigma == 1.0 and RepFisherConfig().ridge == 1e-6 and RepFisherConfig().n == 128
    assert EntanglementConfig().temperature is None  # minimised, as Frosst et al.'s optimized-temperature SNNL
    assert EntanglementConfig().n == 512  # P2 Fig. 6: a batch of 512 images


@pytest.mark.parametrize("name", ["rep-fisher", "weight-norm", "entanglement"])
def test_probe_conformance(robarena_registry, robarena_conformance, name):
    robarena_conformance.check_probe(robarena_registry.get("probe", f"infotransfer/{name}"))
