"""Probe costs (issues: probes, performance).

* The input-Fisher spectral norm by power iteration (JVP + VJP per product, never a d x d
  matrix) per sample at 8x8, 32x32 and 64x64 inputs, for 10 and 20 products: the cost must
  grow with the number of products, not with d^2. The dense alternative (d JVPs to build F)
  is timed at 8x8 and 32x32 for contrast.
* Each registered probe of the paper plugins on the digits CNN (500 test digits), one call.

Run: python -m pytest tests/benchmarks/test_probe_perf.py -m perf --benchmark-autosave
"""
from __future__ import annotations

import copy

import pytest
import torch

pytestmark = pytest.mark.perf

N = 16  # examples per power-iteration batch


@pytest.fixture(scope="module", params=[(1, 8, 8), (3, 32, 32), (3, 64, 64)], ids=["8x8", "32x32", "64x64"])
def cnn_at_size(request):
    from robarena_classics.models.small_cnn import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(request.param, 10).eval()
    x = torch.rand((N, *request.param), generator=torch.Generator().manual_seed(1))
    return model, x


def power_spectral(model, x, iters):
    from robarena_disentangle.fisher import FisherOperator, ShrinkingFisherMatvec, input_gradients_only, power_iteration

    with input_gradients_only(model):
        v0 = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
        return power_iteration(ShrinkingFisherMatvec(FisherOperator(model, x)), v0, iters, tol=0.0)[0]


def dense_spectral(model, x):
    """The d x d route: F_x = J^T (diag p - p p^T) J with J from d JVPs, then eigvalsh."""
    from robarena_disentangle.fisher import input_gradients_only

    with input_gradients_only(model):
        d = x[0].numel()
        eye = torch.eye(d).view(d, *x.shape[1:])
        p = torch.softmax(model(x), dim=1).detach()
        out = []
        for i in range(x.shape[0]):
            jac = torch.stack([torch.func.jvp(model, (x[i:i + 1],), (e[None],))[1][0] for e in eye], dim=1)  # (L, d)
            cov = torch.diag(p[i]) - torch.outer(p[i], p[i])
            out.append(torch.linalg.eigvalsh(jac.T @ cov @ jac)[-1])
        return torch.stack(out)


@pytest.mark.parametrize("iters", [10, 20])
def test_power_iteration_per_sample(benchmark, cnn_at_size, iters):
    model, x = cnn_at_size
    benchmark.group = "fisher-spectral-power"
    benchmark.pedantic(power_spectral, args=(model, x, iters), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(dim=x[0].numel(), iters=iters,
                                ms_per_sample=round(benchmark.stats.stats.mean / N * 1e3, 3))


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)], ids=["8x8", "32x32"])
def test_dense_fisher_per_sample(benchmark, shape):
    """Not at 64x64x3: d = 12,288 JVPs per example, the cost the probe avoids."""
    from robarena_classics.models.small_cnn import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(shape, 10).eval()
    xs = torch.rand((2, *shape), generator=torch.Generator().manual_seed(1))
    benchmark.group = "fisher-spectral-dense"
    benchmark.pedantic(dense_spectral, args=(model, xs), rounds=1, iterations=1)
    benchmark.extra_info.update(dim=xs[0].numel(), ms_per_sample=round(benchmark.stats.stats.mean / 2 * 1e3, 3))


PROBES = ["disentangle/input-fisher", "disentangle/cckl", "disentangle/g1g2", "margins/layer-spectrum",
          "margins/confidence", "margins/loss-variation", "classics/margin", "classics/integrity",
          "infotransfer/rep-fisher", "infotransfer/weight-info", "recognizability/jacobian"]


@pytest.mark.parametrize("probe_id", PROBES)
def test_probe_cost_on_digits(benchmark, digits_cnn, probe_id):
    from bench.api.probe import AttackRecord, ProbeInput
    from bench.data.digits import Digits
    from bench.registry import get_registry
    from robarena_classics.attacks.pgd import PGD

    model, x, y, threat = digits_cnn
    data = Digits()()
    x, y = data.x_test[:500], data.y_test[:500]
    x_adv = PGD(PGD.Config(steps=10), seed=0)(model, x, y, threat).x_adv
    model = copy.deepcopy(model)  # the shared fixture freezes its parameters; weight-info needs their gradients
    for p in model.parameters():
        p.requires_grad_(True)
    entry = get_registry().get("probe", probe_id)
    impl = entry.load()
    pin = ProbeInput(x=x, y=y, num_classes=10, device=torch.device("cpu"), x_train=data.x_train, y_train=data.y_train,
                     attacks={"pgd Linf 0.1": AttackRecord(x_adv, threat)}, batch_size=250)
    benchmark.group = "probe-cost-digits"
    benchmark.pedantic(lambda: impl(seed=0)(model, pin), rounds=1, iterations=1)
