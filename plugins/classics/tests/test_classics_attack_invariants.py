"""Attack invariants: determinism, no global RNG use, the model untouched, early stop and
restart semantics, and monotonicity of robust accuracy in eps."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.core import pgd, pgd_restarts, pgd_steps
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.pgd import PGD

THREATS = [ThreatModel(norm="Linf", eps=0.1), ThreatModel(norm="L2", eps=0.5)]


def attacks():
    return [FGSM(), PGD(PGD.Config(steps=5, step_size=0.05, restarts=2), seed=7)]


def batch(n=16, shape=(1, 4, 4), k=3, seed=0):
    g = generator(seed)
    return torch.rand((n, *shape), generator=g), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("threat", THREATS, ids=lambda t: t.label)
def test_same_seed_same_examples_and_seed_matters(threat):
    model = tiny_mlp((1, 4, 4), 3, seed=1)
    x, y = batch()
    make = lambda seed: PGD(PGD.Config(steps=3, step_size=0.05), seed=seed)  # noqa: E731
    a, b, c = (make(s)(model, x, y, threat).x_adv for s in (0, 0, 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c), "the seed must drive the random start"


@pytest.mark.parametrize("threat", THREATS, ids=lambda t: t.label)
@pytest.mark.parametrize("attack", attacks(), ids=lambda a: type(a).__name__)
def test_attack_leaves_global_rng_model_and_inputs_untouched(attack, threat):
    model = tiny_mlp((1, 4, 4), 3, seed=2)
    model.train()  # the caller's mode must come back
    model[1].eval()  # including a mixed per-submodule mode
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model[1].weight.grad = torch.full_like(model[1].weight, 3.0)  # an existing .grad stays as is
    x, y = batch()
    x_copy = x.clone()
    rng = torch.get_rng_state()
    attack(model, x, y, threat)
    assert torch.equal(torch.get_rng_state(), rng), "the attack consumed the global RNG"
    assert torch.equal(x, x_copy)
    for k, v in model.state_dict().items():
        assert torch.equal(v, params[k]), k
    assert torch.equal(model[1].weight.grad, torch.full_like(model[1].weight, 3.0))
    assert all(p.grad is None for name, p in model.named_parameters() if name != "1.weight")
    assert all(p.requires_grad for p in model.parameters())
    assert model.training and model[0].training and not model[1].training and model[3].training


def test_early_stop_returns_the_first_successful_iterate():
    """Reference: the deterministic (no random start) trajectory x_0, x_1, ..., x_T run without
    freezing; with early stop each example must come back as x_t for the first t at which it
    is misclassified, or x_T if it never is."""
    model = linear_model(3, seed=11)
    x = interior_inputs(64, seed=12)
    with torch.no_grad():
        y = model(x).argmax(1)  # all correct at t = 0
    threat, steps = ThreatModel(norm="Linf", eps=0.06), 12
    kwargs = dict(step_size=0.02, loss="ce", random_init=False)
    trajectory = [pgd_steps(model, x, y, threat, steps=t, early_stop=False, **kwargs) for t in range(steps + 1)]
    expected = trajectory[-1].clone()
    found = torch.zeros(len(y), dtype=torch.bool)
    for xt in trajectory:
        with torch.no_grad():
            now = (model(xt).argmax(1) != y) & ~found
        expected[now] = xt[now]
        found |= now
    assert 0 < int(found.sum()) < len(y), "the case should mix fooled and robust examples"
    got = pgd_steps(model, x, y, threat, steps=steps, early_stop=True, **kwargs)
    assert torch.equal(got, expected)


def test_early_stop_only_adds_successes(standard_digits_model, digits):
    model = standard_digits_model
    x, y = digits.x_test[:200], digits.y_test[:200]
    threat = ThreatModel(norm="Linf", eps=0.1)
    runs = {flag: pgd(model, x, y, threat, steps=20, step_size=0.02, generator=generator(0), early_stop=flag)
            for flag in (True, False)}
    assert bool((runs[True].success | ~runs[False].success).all())
    assert int(runs[True].success.sum()) >= int(runs[False].success.sum())


def test_restarts_keep_first_success_or_highest_loss(standard_digits_model, digits):
    model = standard_digits_model
    x, y = digits.x_test[:200], digits.y_test[:200]
    threat = ThreatModel(norm="Linf", eps=0.08)
    kw = dict(steps=5, step_size=0.02, early_stop=True)
    one = pgd_restarts(model, x, y, threat, restarts=1, generator=generator(0), **kw)
    four = pgd_restarts(model, x, y, threat, restarts=4, generator=generator(0), **kw)
    assert bool((four.success | ~one.success).all()), "a later restart must not undo a success"
    assert torch.equal(four.x_adv[one.success], one.x_adv[one.success]), "first success is kept"
    never = ~four.success
    assert bool((four.objective[never] >= one.objective[never]).all())
    with torch.no_grad():  # the reported success / objective describe the returned examples
        assert torch.equal(model(four.x_adv).argmax(1) != y, four.success)


def test_restarts_without_random_start_are_rejected():
    with pytest.raises(ValidationError, match="random_start"):
        PGD.Config(restarts=3, random_start=False)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_robust_accuracy_does_not_increase_with_eps(standard_digits_model, digits, name):
    model = standard_digits_model
    x, y = digits.x_test[:200], digits.y_test[:200]
    eps_grid = [0.025, 0.05, 0.1, 0.15, 0.2, 0.3]
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    accs = [clean]  # eps = 0 (no threat model has it: the clean examples)
    for eps in eps_grid:
        attack = FGSM() if name == "fgsm" else PGD(PGD.Config(steps=20, step_size=None), seed=0)
        x_adv = attack(model, x, y, ThreatModel(norm="Linf", eps=eps)).x_adv
        with torch.no_grad():
            accs.append(float((model(x_adv).argmax(1) == y).float().mean()))
    assert all(b <= a for a, b in zip(accs, accs[1:])), f"{name}: {accs}"
    assert accs[-1] < 0.5 * clean, f"{name} should break an undefended model at eps 0.3: {accs}"


def test_pgd_default_step_size_scales_with_the_threat():
    """Linf eps / 4 (P0's 2/255 at 8/255, float-equal), L2 2.5 eps / steps (Madry et al.); an explicit step wins."""
    assert PGD().step_size_for(ThreatModel(norm="Linf", eps="8/255")) == 2 / 255
    assert PGD().step_size_for(ThreatModel(norm="Linf", eps=0.3)) == 0.075
    assert PGD(PGD.Config(steps=10)).step_size_for(ThreatModel(norm="L2", eps=0.5)) == 0.125
    assert PGD().step_size_for(ThreatModel(norm="L2", eps=0.5)) == 0.0625
    assert PGD(PGD.Config(step_size=0.01)).step_size_for(ThreatModel(norm="Linf", eps=0.3)) == 0.01
    budget, = PGD.Config(steps=7, step_size=0.02, random_start=False).step_budgets(ThreatModel(norm="L2", eps=1.0))
    assert budget == ("L2", 1.0, 7, 0.02, False, "")


def test_unsupported_threat_models_are_user_errors():
    from bench.errors import UsageError

    model = tiny_mlp((1, 4, 4), 3, seed=0)
    x, y = batch()
    with pytest.raises(UsageError, match="norms"):
        PGD()(model, x, y, ThreatModel(norm="unbounded"))
    with pytest.raises(UsageError, match="target"):
        FGSM()(model, x, y, ThreatModel(norm="Linf", eps=0.1, targeted=True))  # no target labels


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pgd_step_loop_has_no_host_syncs_on_cuda():
    model = tiny_mlp((1, 4, 4), 3, seed=0).cuda()
    x, y = (t.cuda() for t in batch())
    g = torch.Generator(device="cuda").manual_seed(0)
    threat = ThreatModel(norm="L2", eps=0.5)
    pgd_steps(model, x, y, threat, steps=1, step_size=0.1, generator=g)  # warm-up (lazy init may sync)
    torch.cuda.set_sync_debug_mode("error")
    try:
        pgd_steps(model, x, y, threat, steps=5, step_size=0.1, generator=g)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_a_model_without_input_gradients_is_a_user_error():
    from bench.errors import UsageError

    class NoGrad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tiny_mlp((1, 4, 4), 3, seed=0)

        def forward(self, x):
            with torch.no_grad():
                return self.inner(x)

    x, y = batch()
    with pytest.raises(UsageError, match="input gradients"):
        PGD()(NoGrad(), x, y, ThreatModel(norm="Linf", eps=0.1))


def test_robust_accuracy_does_not_increase_with_steps_or_restarts(standard_digits_model, digits):
    """With a fixed seed the first k steps of a longer run are the shorter run, and early stopping
    keeps every success, so more steps (or restarts) can only fool more examples."""
    model = standard_digits_model
    x, y = digits.x_test[:200], digits.y_test[:200]
    threat = ThreatModel(norm="Linf", eps=0.08)

    def acc(steps, restarts):
        attack = PGD(PGD.Config(steps=steps, step_size=0.01, restarts=restarts), seed=3)
        with torch.no_grad():
            return float((model(attack(model, x, y, threat).x_adv).argmax(1) == y).double().mean())

    by_steps = [acc(s, 1) for s in (1, 3, 10, 30)]
    by_restarts = [acc(5, r) for r in (1, 2, 4, 8)]
    assert all(b <= a for a, b in zip(by_steps, by_steps[1:])), by_steps
    assert all(b <= a for a, b in zip(by_restarts, by_restarts[1:])), by_restarts
    assert by_steps[-1] < by_steps[0] and by_restarts[-1] <= by_restarts[0]
