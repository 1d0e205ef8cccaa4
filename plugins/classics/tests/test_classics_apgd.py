"""APGD-CE, APGD-DLR and APGD-T against known answers.

Binary affine models: with rival o of label y and a = w_y - w_o, the margin m = z_y - z_o
is affine and its minimum over the eps-ball (box not binding) is m - eps ||a||_1 (Linf) or
m - eps ||a||_2 (L2). For DLR and targeted DLR (which need 3 and 4 classes) the binary
model is embedded in K classes whose extra rows are the mean of the two real rows with a
bias lowered by C_j >= 50: the extra logits are (z_0 + z_1) / 2 - C_j, never the largest,
and every loss here (CE, DLR, targeted DLR toward the rival) is a strictly decreasing
function of m alone, so the closed form still gives the optimum.
"""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bench.errors import UsageError
from bench.threat import ThreatModel
from classics_helpers import generator, interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.aa_apgd_core import apgd_run, checkpoints, halve_step
from robarena_classics.attacks.aa_losses import ce_loss, dlr_loss, dlr_targeted_loss
from robarena_classics.attacks.apgd import APGDCE, APGDDLR, APGDT, APGDConfig, APGDTConfig
from robarena_classics.attacks.core import margin
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.models.linear import LinearClassifier

N = 300


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These models are tiny: intra-op threads only add overhead (about 10x on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


THREATS = {"Linf": ThreatModel(norm="Linf", eps=0.02), "L2": ThreatModel(norm="L2", eps=0.08)}


def binary_model(x: torch.Tensor, num_classes: int = 2, seed: int = 0) -> LinearClassifier:
    """A binary affine model (bias centred on ``x`` so that margins straddle 0), embedded in
    ``num_classes`` classes as described in the module docstring."""
    base = linear_model(2, seed=seed)
    w = base.head.weight.detach()
    model = LinearClassifier(base.input_shape, num_classes)
    with torch.no_grad():
        shift = float((x.flatten(1) @ (w[1] - w[0])).mean())
        model.head.weight.copy_(w.mean(0).expand(num_classes, -1))
        model.head.weight[:2] = w
        model.head.bias.copy_(-50.0 * torch.arange(num_classes - 1, -1, -1.0).flip(0))
        model.head.bias[:2] = torch.tensor([0.0, -shift])
        model.head.bias[2:] -= shift / 2
    return model.eval()


def closed_form(model, x, y, threat) -> torch.Tensor:
    """Minimum over the ball of the binary margin z_y - z_{1-y}, shape (N,)."""
    w = model.head.weight.detach()
    a = w[y] - w[1 - y]
    dual = a.abs().sum(1) if threat.norm == "Linf" else a.norm(dim=1)
    with torch.no_grad():
        z = model(x)
    return z.gather(1, y[:, None]).squeeze(1) - z.gather(1, (1 - y)[:, None]).squeeze(1) - threat.eps * dual


def test_checkpoints_follow_the_published_recursion():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for n_iter in range(1, 260):  # independent exact computation with fractions
        ps, prev, cur = [], Fraction(0), Fraction(22, 100)
        while cur <= 1:
            ps.append(cur)
            prev, cur = cur, cur + max(cur - prev - Fraction(3, 100), Fraction(6, 100))
        expected = sorted({math.ceil(p * n_iter) for p in ps} - {0})
        assert checkpoints(n_iter) == expected, n_iter


def test_checkpoint_conditions():
    """Window of 22 steps, rho 0.75: condition 1 holds below 16.5 increases; condition 2 when
    the step was kept at the last checkpoint and f_max did not grow."""
    n_up = torch.tensor([16.0, 17.0, 17.0, 17.0, 22.0])
    reduced_last = torch.tensor([True, True, False, False, False])
    f_max = torch.tensor([1.0, 1.0, 1.0, 2.0, 1.0])
    f_max_last = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.5])
    got = halve_step(n_up, 22, 0.75, reduced_last, f_max, f_max_last)
    assert got.tolist() == [True, False, True, False, False]
    # strictly fewer: with a window of 20, 15 increases (exactly rho * window) keep the step
    keep, grown, before = torch.tensor([False]), torch.tensor([2.0]), torch.tensor([1.0])
    assert halve_step(torch.tensor([15.0]), 20, 0.75, keep, grown, before).tolist() == [False]
    assert halve_step(torch.tensor([14.0]), 20, 0.75, keep, grown, before).tolist() == [True]


def test_defaults_are_the_published_ones():
    cfg, tcfg = APGDConfig(), APGDTConfig()
    assert (cfg.n_iter, cfg.n_restarts, cfg.rho, cfg.alpha, cfg.eot_iter, cfg.random_start) == (100, 1, 0.75, 0.75, 1,
                                                                                               True)
    assert (tcfg.n_iter, tcfg.n_restarts, tcfg.n_target_classes) == (100, 1, 9)
    assert APGDCE.Config is APGDConfig and APGDDLR.Config is APGDConfig and APGDT.Config is APGDTConfig
    with pytest.raises(ValueError, match="random_start"):
        APGDConfig(n_restarts=2, random_start=False)


def test_dlr_losses_known_values_and_invariances():
    z = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 5.0, 1.0]])
    y = torch.tensor([0, 1])
    # row 0: margin 3 - 1 = 2, z_pi1 - z_pi3 = 3 - 0; row 1: margin 2 - 5 = -3, 5 - 1
    torch.testing.assert_close(dlr_loss(z, y), torch.tensor([-2 / 3, 3 / 4]))
    t = torch.tensor([2, 3])
    # row 0: -(3 - 0) / (3 - (0 - 1) / 2); row 1: -(2 - 1) / (5 - (1 + 0) / 2)
    torch.testing.assert_close(dlr_targeted_loss(z, y, t), torch.tensor([-3 / 3.5, -1 / 4.5]))
    g = generator(0)
    zz = torch.randn(50, 6, generator=g)
    yy, tt = torch.randint(0, 6, (50,), generator=g), torch.randint(0, 6, (50,), generator=g)
    for fn in (dlr_loss, dlr_targeted_loss):
        torch.testing.assert_close(fn(3.0 * zz + 7.0, yy, tt), fn(zz, yy, tt), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ce_loss(z, y), torch.nn.functional.cross_entropy(z, y, reduction="none"))
    with pytest.raises(UsageError, match="3 classes"):
        dlr_loss(z[:, :2], y)
    with pytest.raises(UsageError, match="4 classes"):
        dlr_targeted_loss(z[:, :3], y, t)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("attack_cls, k", [(APGDCE, 2), (APGDDLR, 3), (APGDT, 4)], ids=["ce", "dlr", "t"])
def test_apgd_fools_exactly_the_attackable_points_of_a_binary_linear_model(attack_cls, k, norm):
    """Fooled iff the closed-form worst margin is negative; the points that stay robust are
    returned at the closed-form optimum (the highest-loss point is the optimal vertex / boundary point)."""
    threat = THREATS[norm]
    x = interior_inputs(N, seed=1)
    model = binary_model(x, k)
    with torch.no_grad():
        y = model(x).argmax(1)
    worst = closed_form(model, x, y, threat)
    clear = worst.abs() > 1e-3
    assert clear.sum() > 0.95 * N and 0.2 * N < (worst < 0).sum() < 0.8 * N  # a real mix of both cases
    with torch.no_grad():
        got = margin(model(attack_cls(seed=0)(model, x, y, threat).x_adv), y)
    assert torch.equal((got < 0)[clear], (worst < 0)[clear])
    robust = got >= 0
    torch.testing.assert_close(got[robust], worst[robust], rtol=0, atol=1e-4)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("seed", [0, 2])
def test_apgd_never_does_worse_than_fgsm_on_multiclass_linear_models(seed, norm):
    """From the clean input APGD-CE's first iterate *is* the FGSM example (step 2 eps projected
    onto the ball) and success is checked at every iterate, so it fools every example FGSM
    fools; with the default random start APGD-CE and APGD-T do too here, and APGD-DLR fools
    at least as many in total."""
    threat = ThreatModel(norm=norm, eps=0.03 if norm == "Linf" else 0.1)
    model = linear_model(10, seed=seed)
    x = interior_inputs(120, seed=seed + 10)
    with torch.no_grad():
        y = model(x).argmax(1)

    def fooled(attack) -> torch.Tensor:
        with torch.no_grad():
            return model(attack(model, x, y, threat).x_adv).argmax(1) != y

    by_fgsm = fooled(FGSM())
    assert 0 < by_fgsm.sum() < len(y)
    for attack in (APGDCE(APGDCE.Config(random_start=False)), APGDCE(seed=0), APGDT(seed=0)):
        assert not bool((by_fgsm & ~fooled(attack)).any()), type(attack).__name__
    assert fooled(APGDDLR(seed=0)).sum() >= by_fgsm.sum()


class _QuadraticProbe(nn.Module):
    """Logits [1000, x_1, ..., x_d]: label 0 is never lost, and the loss below reads x directly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.cat([torch.full_like(flat[:, :1], 1000.0), flat], dim=1)


def test_step_size_halves_at_every_checkpoint_on_a_linear_loss():
    """Loss w . x from the clean input: step 1 reaches the optimal vertex and the loss never
    rises again, so condition 1 holds at each of the 8 checkpoints of 100 iterations:
    the final step is 2 eps / 2^8, and the returned point is the vertex x + eps sign(w)."""
    threat = ThreatModel(norm="Linf", eps=0.1)
    x = interior_inputs(5, shape=(1, 2, 2), seed=3)
    w = torch.tensor([1.0, -2.0, 0.5, -0.25])
    run = apgd_run(_QuadraticProbe(), x, torch.zeros(5, dtype=torch.long), threat, x,
                   loss_fn=lambda z, y, t: z[:, 1:] @ w, n_iter=100, rho=0.75, alpha=0.75)
    torch.testing.assert_close(run.step, torch.full((5,), 0.2 / 2**8))
    torch.testing.assert_close(run.x_adv, x + 0.1 * w.sign().view(1, 1, 2, 2))
    assert not run.fooled.any()


def test_step_size_control_converges_to_an_interior_maximum():
    """Maximising -||x - c||^2 with c inside the ball: fixed sign steps of 2 eps would oscillate
    at distance ~eps from c; the halving and restarts from the best point bring x_max within
    eps / 50 of c per coordinate."""
    threat = ThreatModel(norm="Linf", eps=0.1)
    x = interior_inputs(8, shape=(1, 2, 2), seed=4)
    c = x + 0.08 * (2 * torch.rand(x.shape, generator=generator(5)) - 1)
    run = apgd_run(_QuadraticProbe(), x, torch.zeros(8, dtype=torch.long), threat, x,
                   loss_fn=lambda z, y, t: -((z[:, 1:] - c.flatten(1)) ** 2).sum(1), n_iter=100, rho=0.75, alpha=0.75)
    assert float((run.x_adv - c).abs().max()) < 0.1 / 50
    assert bool((run.step < 0.2).all())


def reference_apgd_linf(f, grad_f, x, eps, n_iter, rho=0.75, alpha=0.75):
    """Algorithm 1 of Croce and Hein (2020) for one example, written out directly from the
    paper (Linf, start at x, no batching); returns every iterate x^(0..n_iter) before restarts."""
    marks, prev, cur = set(), Fraction(0), Fraction(22, 100)
    while cur <= 1:
        marks.add(math.ceil(cur * n_iter))
        prev, cur = cur, cur + max(cur - prev - Fraction(3, 100), Fraction(6, 100))
    proj = lambda v: torch.minimum(torch.maximum(v, x - eps), x + eps).clamp(0, 1)  # noqa: E731
    eta, x_k, x_prev = 2 * eps, x, x
    f_k = f(x_k)
    x_max, f_max = x_k, f_k
    iterates, ups, reduced, f_max_at_last_mark, last_mark = [x_k], 0, False, f_max, 0
    for k in range(n_iter):
        z = proj(x_k + eta * grad_f(x_k).sign())
        a = 1.0 if k == 0 else alpha
        x_prev, x_k = x_k, proj(x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev))
        f_new = f(x_k)
        ups += int(f_new > f_k)
        f_k = f_new
        iterates.append(x_k)
        if f_k > f_max:
            x_max, f_max = x_k, f_k
        if k + 1 in marks:
            cond1 = ups < rho * (k + 1 - last_mark)
            cond2 = not reduced and f_max <= f_max_at_last_mark
            reduced = cond1 or cond2
            if reduced:
                eta, x_k, f_k = eta / 2, x_max, f_max
            ups, f_max_at_last_mark, last_mark = 0, f_max, k + 1
    return torch.stack(iterates)


@pytest.mark.parametrize("loss", ["quadratic", "wavy"])
def test_iterates_match_a_direct_transcription_of_algorithm_1(loss):
    """Every point the batched implementation evaluates (recorded by the model) equals the
    iterate of the paper's algorithm run example by example: steps, momentum, checkpoints,
    both halving conditions and the restarts from x_max. Float64; a quadratic loss whose
    maximiser c is partly outside the ball (iterates oscillate and hit the faces), and a wavy
    loss with many local maxima (irregular runs of increases)."""
    eps, n_iter, n = 0.1, 100, 40
    x = interior_inputs(n, shape=(1, 3, 3), seed=12).double()
    c = x + 0.15 * (2 * torch.rand(x.shape, generator=generator(13), dtype=torch.float64) - 1)
    if loss == "quadratic":
        f = lambda v, c: -((v - c) ** 2).flatten(1).sum(1)  # noqa: E731
        grad_f = lambda v, c: -2 * (v - c)  # noqa: E731
    else:
        f = lambda v, c: (torch.sin(40 * v + 7 * c) + 3 * v * c).flatten(1).sum(1)  # noqa: E731
        grad_f = lambda v, c: 40 * torch.cos(40 * v + 7 * c) + 3 * c  # noqa: E731
    seen = []

    class Recorder(_QuadraticProbe):
        def forward(self, v):
            seen.append(v.detach().clone())
            return super().forward(v)

    apgd_run(Recorder(), x, torch.zeros(n, dtype=torch.long), ThreatModel(norm="Linf", eps=eps), x,
             loss_fn=lambda z, y, t: f(z[:, 1:].view_as(x), c), n_iter=n_iter, rho=0.75, alpha=0.75)
    got = torch.stack(seen)  # (n_iter + 1, n, 1, 3, 3)
    for i in range(n):
        ref = reference_apgd_linf(lambda v: float(f(v[None], c[i:i + 1])), lambda v: grad_f(v, c[i]),
                                  x[i], eps, n_iter)
        torch.testing.assert_close(got[:, i], ref, rtol=0, atol=1e-12)


def test_early_stopping_and_other_examples_change_no_result():
    """Each example's result is the same alone (batch of one, no random start) as in a batch in
    which other examples get fooled and leave; with the random start, attacking a subset gives
    the subset exactly the full-batch result (draws are made for the whole batch)."""
    model = tiny_mlp((1, 4, 4), 10, seed=6)
    x = torch.rand((12, 1, 4, 4), generator=generator(7))
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm="Linf", eps=0.05)
    attack = APGDCE(APGDCE.Config(n_iter=30, random_start=False))
    batched = attack(model, x, y, threat).x_adv
    with torch.no_grad():
        fooled = model(batched).argmax(1) != y
    assert 0 < fooled.sum() < len(y)
    alone = torch.cat([attack(model, x[i:i + 1], y[i:i + 1], threat).x_adv for i in range(len(y))])
    torch.testing.assert_close(alone, batched, rtol=0, atol=1e-6)
    runs = [apgd_run(model, x, y, threat, x, loss_fn=ce_loss, n_iter=30, rho=0.75, alpha=0.75, compact_every=every)
            for every in (1, 7, 1000)]  # dropping fooled examples every step, sometimes, never
    for run in runs[1:]:
        for name in ("x_adv", "fooled", "loss", "step"):
            torch.testing.assert_close(getattr(run, name), getattr(runs[0], name), rtol=0, atol=1e-6)
    for cls in (APGDCE, APGDT):
        att = cls(cls.Config(n_iter=20), seed=3)
        full = att(model, x, y, threat).x_adv
        active = torch.arange(12) % 3 != 0
        with torch.enable_grad():
            sub = att.attack_active(model, x, y, threat, torch.Generator().manual_seed(3), active)
        assert torch.equal(sub[active], full[active]) and torch.equal(sub[~active], x[~active])


def test_same_seed_same_examples_and_seed_matters():
    model = tiny_mlp((1, 4, 4), 5, seed=8)
    x = torch.rand((16, 1, 4, 4), generator=generator(9))
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm="L2", eps=0.05)
    make = lambda seed: APGDDLR(APGDDLR.Config(n_iter=10), seed=seed)  # noqa: E731
    a, b, c = (make(s)(model, x, y, threat).x_adv for s in (0, 0, 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_clean_misclassified_examples_are_returned_unchanged_and_eot_averages_passes():
    """Only clean-correct examples are attacked; eot_iter passes are made per step: with
    n_iter = 4 and eot_iter = 3 the model sees 1 (clean check) + (1 + 4) * 3 forward passes."""
    calls = []
    inner = tiny_mlp((1, 4, 4), 5, seed=10)

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return inner(x)

    x = torch.rand((6, 1, 4, 4), generator=generator(11))
    with torch.no_grad():
        y = inner(x).argmax(1)
    y[:2] = (y[:2] + 1) % 5  # two clean-misclassified examples
    threat = ThreatModel(norm="Linf", eps=1e-4)  # too small to fool anyone here
    out = APGDCE(APGDCE.Config(n_iter=4, eot_iter=3), seed=0)(Counting(), x, y, threat).x_adv
    assert torch.equal(out[:2], x[:2])
    assert calls == [6] + [4] * 15


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**16), st.sampled_from([(1, 2, 2), (2, 3, 3), (3, 1, 4)]), st.sampled_from(["Linf", "L2"]),
       st.one_of(st.just(1.0), st.floats(1e-4, 1.0)), st.sampled_from(["uniform", "edges"]),
       st.sampled_from(["ce", "dlr", "t"]), st.integers(1, 6), st.integers(1, 2))
def test_apgd_stays_inside_the_ball_and_the_box(seed, shape, norm, eps, inputs, which, n_iter, restarts):
    model = tiny_mlp(shape, 4, seed)
    x = torch.rand((5, *shape), generator=generator(seed + 1))
    if inputs == "edges":
        x = (x > 0.5).float()
    y = torch.randint(0, 4, (5,), generator=generator(seed + 2))
    cls = {"ce": APGDCE, "dlr": APGDDLR, "t": APGDT}[which]
    attack = cls(cls.Config(n_iter=n_iter, n_restarts=restarts), seed=seed)
    x_adv = attack(model, x, y, ThreatModel(norm=norm, eps=eps)).x_adv
    assert bool(torch.isfinite(x_adv).all()) and float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    delta = (x_adv - x).flatten(1)
    dist = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert float(dist.max()) <= eps * (1 + 1e-5) + 1e-6
