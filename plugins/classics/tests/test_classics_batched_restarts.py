"""Batched restarts give the sequential restarts' result; an example's runs do not depend on the others."""
import pytest
import torch

from bench.threat import ThreatModel
from classics_helpers import generator
from robarena_classics.attacks.core import pgd, pgd_restarts, random_start
from robarena_classics.attacks.pgd import PGD


@pytest.mark.parametrize("norm, eps, loss", [("Linf", 0.08, "ce"), ("L2", 0.6, "cw")])
@pytest.mark.parametrize("early_stop", [True, False])
def test_batched_equals_sequential(standard_digits_model, digits, norm, eps, loss, early_stop):
    model = standard_digits_model
    x, y = digits.x_test[:120], digits.y_test[:120]
    threat = ThreatModel(norm=norm, eps=eps)
    kw = dict(steps=6, step_size=eps / 4, loss=loss, early_stop=early_stop)
    seq = pgd_restarts(model, x, y, threat, restarts=4, generator=generator(3), **kw)
    bat = pgd_restarts(model, x, y, threat, restarts=4, generator=generator(3), batched=True, **kw)
    assert torch.equal(seq.success, bat.success)
    torch.testing.assert_close(bat.x_adv, seq.x_adv, rtol=0, atol=1e-6)  # batch-size-dependent rounding only
    torch.testing.assert_close(bat.objective, seq.objective, rtol=1e-5, atol=1e-5)
    assert 0 < int(seq.success.sum()) < len(y), "the case must have fooled and robust examples"


def test_each_restart_is_a_full_batch_draw(standard_digits_model, digits):
    """Restart r of example i starts at the r-th full-batch draw of the generator, whatever the
    other examples did: running example i alone with those starts gives its sequential result."""
    model = standard_digits_model
    x, y = digits.x_test[:60], digits.y_test[:60]
    threat = ThreatModel(norm="Linf", eps=0.08)
    kw = dict(steps=5, step_size=0.02, early_stop=True)
    seq = pgd_restarts(model, x, y, threat, restarts=3, generator=generator(1), **kw)
    g = generator(1)
    starts = [random_start(x, threat, g) for _ in range(3)]
    for i in (0, 7, 31):
        best = None
        for start in starts:
            run = pgd(model, x[i:i + 1], y[i:i + 1], threat, start=start[i:i + 1], random_init=False, **kw)
            if best is None or (not bool(best.success) and (bool(run.success) or run.objective > best.objective)):
                best = run
            if bool(best.success):
                break
        torch.testing.assert_close(seq.x_adv[i:i + 1], best.x_adv, rtol=0, atol=1e-6)


def test_attack_option_is_pinned_and_equivalent(standard_digits_model, digits):
    assert PGD.Config().batched_restarts is False
    model = standard_digits_model
    x, y = digits.x_test[:50], digits.y_test[:50]
    threat = ThreatModel(norm="Linf", eps=0.1)
    a = PGD(PGD.Config(steps=5, restarts=3), seed=2)(model, x, y, threat).x_adv
    b = PGD(PGD.Config(steps=5, restarts=3, batched_restarts=True), seed=2)(model, x, y, threat).x_adv
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
