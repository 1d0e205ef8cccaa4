"""Attack cost against the floor (steps x one forward + one backward w.r.t. the input) and
against an established library (torchattacks, benchmark-only extra), on the same model,
batch and settings. Run (see docs/performance.md):

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \\
        python -m pytest tests/benchmarks/test_attack_perf.py -m perf --benchmark-autosave
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark_helpers import reference_library

from bench.data.gratings import Gratings32
from bench.threat import ThreatModel

pytestmark = pytest.mark.perf



STEPS = 20
ALPHA = 2 / 255


def floor(model, x, y, steps):
    """The floor: ``steps`` forward+backward passes w.r.t. the input, nothing else."""
    for _ in range(steps):
        xr = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
    return g


@pytest.fixture(scope="module")
def resnet18():
    from bench.timm_models import _timm_class

    torch.manual_seed(0)
    model = _timm_class("resnet18")((3, 32, 32), 10).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    data = Gratings32(Gratings32.Config(n_train=10, n_test=64))()
    return model, data.x_test, data.y_test, ThreatModel(norm="Linf", eps=8 / 255)


def robust_acc(model, x_adv, y):
    with torch.no_grad():
        return round(float((model(x_adv).argmax(1) == y).double().mean()), 4)


@pytest.fixture(params=["digits_cnn", "resnet18"])
def setup(request):
    return request.param, request.getfixturevalue(request.param)


def test_pgd20_floor(benchmark, setup):
    name, (model, x, y, threat) = setup
    benchmark.group = f"pgd20-{name}"
    benchmark.pedantic(floor, args=(model, x, y, STEPS), rounds=3, iterations=1, warmup_rounds=1)


def test_pgd20_robarena_all_steps(benchmark, setup):
    from robarena_classics.attacks.pgd import PGD

    name, (model, x, y, threat) = setup
    benchmark.group = f"pgd20-{name}"
    attack = PGD(PGD.Config(steps=STEPS, step_size=ALPHA, early_stop=False), seed=0)
    out = benchmark.pedantic(attack, args=(model, x, y, threat), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["robust_acc"] = robust_acc(model, out.x_adv, y)


def test_pgd20_robarena_early_stop(benchmark, setup):
    from robarena_classics.attacks.pgd import PGD

    name, (model, x, y, threat) = setup
    benchmark.group = f"pgd20-{name}"
    attack = PGD(PGD.Config(steps=STEPS, step_size=ALPHA), seed=0)
    out = benchmark.pedantic(attack, args=(model, x, y, threat), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["robust_acc"] = robust_acc(model, out.x_adv, y)


def test_pgd20_robarena_compiled(benchmark, setup):
    """All steps on ``torch.compile(model, backend="inductor", dynamic=True)`` (``run --compile``);
    compilation happens in the warm-up round."""
    from robarena_classics.attacks.pgd import PGD

    name, (model, x, y, threat) = setup
    benchmark.group = f"pgd20-{name}"
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="inductor", dynamic=True)
    attack = PGD(PGD.Config(steps=STEPS, step_size=ALPHA, early_stop=False), seed=0)
    out = benchmark.pedantic(attack, args=(compiled, x, y, threat), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["robust_acc"] = robust_acc(model, out.x_adv, y)


def test_pgd20_torchattacks(benchmark, setup):
    name, (model, x, y, threat) = setup
    benchmark.group = f"pgd20-{name}"
    attack = reference_library().PGD(model, eps=threat.eps, alpha=ALPHA, steps=STEPS, random_start=True)
    torch.manual_seed(0)
    out = benchmark.pedantic(attack, args=(x, y), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["robust_acc"] = robust_acc(model, out, y)


# --------------------------------------------------------------------------- Carlini-Wagner L2
CW_STEPS = 50


def test_cw50_floor(benchmark, setup):
    name, (model, x, y, _threat) = setup
    benchmark.group = f"cw50-{name}"
    benchmark.pedantic(floor, args=(model, x, y, CW_STEPS), rounds=3, iterations=1, warmup_rounds=1)


def test_cw50_robarena(benchmark, setup):
    """C&W L2 with one constant (c = 1) and 50 Adam steps, every step run (no abort), as torchattacks' CW."""
    from robarena_classics.attacks.cw import CWL2

    name, (model, x, y, _threat) = setup
    benchmark.group = f"cw50-{name}"
    attack = CWL2(CWL2.Config(binary_search_steps=1, initial_const=1.0, max_iterations=CW_STEPS,
                              abort_early=False))
    out = benchmark.pedantic(attack, args=(model, x, y, ThreatModel(norm="L2", eps=1e3)), rounds=3,
                             iterations=1, warmup_rounds=1)
    benchmark.extra_info["robust_acc"] = robust_acc(model, out.x_adv, y)


def test_cw50_torchattacks(benchmark, setup):
    name, (model, x, y, _threat) = setup
    benchmark.group = f"cw50-{name}"
    attack = reference_library().CW(model, c=1.0, kappa=0, steps=CW_STEPS, lr=0.01)
    out = benchmark.pedantic(attack, args=(x, y), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["robust_acc"] = robust_acc(model, out, y)


# --------------------------------------------------------------------------- P3 robustness profile
P3_EPS = [2 / 255, 4 / 255, 8 / 255, 16 / 255, 32 / 255, 50 / 255]  # P3 sweeps 0..50/255
P3_STEPS, P3_RESTARTS = 50, 10


def profile_floor(model, x, y):
    for _ in P3_EPS:
        for _ in range(P3_RESTARTS):
            floor(model, x, y, P3_STEPS)


def profile_robarena(model, x, y):
    """P3's profile: PGD-50 of 2/255 with up to 10 restarts while not fooled, per eps."""
    from robarena_classics.attacks.pgd import PGD

    accs = []
    for eps in P3_EPS:
        attack = PGD(PGD.Config(steps=P3_STEPS, step_size=2 / 255, restarts=P3_RESTARTS), seed=0)
        accs.append(robust_acc(model, attack(model, x, y, ThreatModel(norm="Linf", eps=eps)).x_adv, y))
    return accs


def profile_robarena_reuse(model, x, y):
    """The profile with ``eval.reuse_smaller_eps``: each eps attacks only the examples no smaller eps
    fooled; robust accuracy per eps is the envelope (no adversarial example at any eps' <= eps)."""
    from robarena_classics.attacks.pgd import PGD

    accs, robust = [], torch.ones_like(y, dtype=torch.bool)
    for eps in P3_EPS:
        todo = robust.nonzero().flatten()
        if todo.numel():
            attack = PGD(PGD.Config(steps=P3_STEPS, step_size=2 / 255, restarts=P3_RESTARTS), seed=0)
            x_adv = attack(model, x[todo], y[todo], ThreatModel(norm="Linf", eps=eps)).x_adv
            with torch.no_grad():
                robust[todo] = model(x_adv).argmax(1) == y[todo]
        accs.append(round(float(robust.double().mean()), 4))
    return accs


def profile_naive(model, x, y):
    """The same protocol as a plain loop: every restart and every step on every example."""
    from robarena_classics.attacks.core import pgd_steps

    accs = []
    gen = torch.Generator().manual_seed(0)
    for eps in P3_EPS:
        threat = ThreatModel(norm="Linf", eps=eps)
        robust = torch.ones_like(y, dtype=torch.bool)
        for _ in range(P3_RESTARTS):
            x_adv = pgd_steps(model, x, y, threat, steps=P3_STEPS, step_size=2 / 255, generator=gen,
                              early_stop=False)
            with torch.no_grad():
                robust &= model(x_adv).argmax(1) == y
        accs.append(round(float(robust.double().mean()), 4))
    return accs


def profile_torchattacks(model, x, y):
    accs = []
    torch.manual_seed(0)
    for eps in P3_EPS:
        attack = reference_library().PGD(model, eps=eps, alpha=2 / 255, steps=P3_STEPS, random_start=True)
        robust = torch.ones_like(y, dtype=torch.bool)
        for _ in range(P3_RESTARTS):
            x_adv = attack(x, y)
            with torch.no_grad():
                robust &= model(x_adv).argmax(1).eq(y)
        accs.append(round(float(robust.double().mean()), 4))
    return accs


@pytest.mark.parametrize("model_name", ["digits_cnn", "gratings_cnn", "gratings_pgdat_cnn"])
@pytest.mark.parametrize("impl", ["naive", "robarena", "robarena_reuse", "torchattacks"])
def test_p3_profile(benchmark, request, model_name, impl):
    """P3's robust-accuracy profile (PGD-50 of 2/255, up to 10 restarts, eps 2..50/255); base: the naive loop."""
    model, x, y, _ = request.getfixturevalue(model_name)
    benchmark.group = f"p3-profile-{model_name}"
    fn = {"robarena": profile_robarena, "robarena_reuse": profile_robarena_reuse, "naive": profile_naive,
          "torchattacks": profile_torchattacks}[impl]
    benchmark.extra_info["robust_acc_per_eps"] = benchmark.pedantic(fn, args=(model, x, y), rounds=1, iterations=1)
