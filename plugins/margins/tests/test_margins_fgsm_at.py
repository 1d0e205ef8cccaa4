"""margins/fgsm-at: P1 B.6's FGSM training is PGD-AT with the inner PGD replaced by one FGSM step from x."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.api import TrainConfig, TrainContext
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from bench.testing.tiny import TinyLinear
from robarena_margins.defenses.fgsm_at import FGSMAT, FGSMATConfig


def test_settings_are_p1_b6_fgsm_not_fast_at():
    cfg = FGSMATConfig()
    assert (cfg.norm, cfg.eps) == ("Linf", pytest.approx(8 / 255))
    inner = FGSMATConfig(eps="4/255").inner()
    # one step of length eps from the clean point: FGSM (Goodfellow et al. 2015), no random start
    assert (inner.norm, inner.steps, inner.random_start) == ("Linf", 1, False)
    assert inner.step_size == pytest.approx(4 / 255) and inner.eps == pytest.approx(4 / 255)
    (budget,) = cfg.step_budgets()
    assert (budget.steps, budget.random_start) == (1, False) and budget.step_size == pytest.approx(8 / 255)
    with pytest.raises(ValueError):
        FGSMATConfig(step_size=0.01)  # FGSM has no step size of its own
    with pytest.raises(ValueError):
        FGSMATConfig(random_start=True)  # nor a random start (that is classics/fast-at)


def _data(n: int = 12):
    from bench.api import DatasetSplits

    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, 1, 4, 4, generator=g)
    y = torch.arange(n) % 3
    return DatasetSplits(x, y, x[:4], y[:4], 3)


def test_one_step_equals_sgd_on_the_hand_computed_fgsm_loss():
    """Full batch, no momentum or decay: one update is w - lr * grad_w CE(f(x'), y) with
    x' = clip(x + eps sign(grad_x CE(f(x), y)), 0, 1), the FGSM point computed by hand for an affine f."""
    data, eps, lr = _data(), 0.1, 0.5
    train = TrainConfig(epochs=1, batch_size=len(data.x_train), lr=lr, momentum=0.0, weight_decay=0.0,
                        schedule="constant")
    ctx = TrainContext(device=torch.device("cpu"), seed=0, generator=torch.Generator().manual_seed(0))
    trained = FGSMAT(FGSMATConfig(eps=eps), train)(lambda: TinyLinear((1, 4, 4), 3, seed=1), data, ctx)

    ref = TinyLinear((1, 4, 4), 3, seed=1)
    w, b = ref.head.weight.detach(), ref.head.bias.detach()
    x, y = data.x_train.flatten(1), data.y_train
    # grad_x of the mean CE of an affine model: (softmax(Wx + b) - onehot(y)) W / n; its sign is that of W^T (p - e_y)
    p = (x @ w.T + b).softmax(dim=1)
    g = (p - F.one_hot(y, 3).double().to(p.dtype)) @ w
    x_adv = (x + eps * g.sign()).clamp(0.0, 1.0)
    p_adv = (x_adv @ w.T + b).softmax(dim=1)
    r = (p_adv - F.one_hot(y, 3).to(p_adv.dtype)) / len(y)  # grad of the mean CE w.r.t. the logits
    assert torch.allclose(trained.head.weight, w - lr * r.T @ x_adv, atol=1e-6)
    assert torch.allclose(trained.head.bias, b - lr * r.sum(0), atol=1e-6)
    assert ctx.log["train_loss"][0] == pytest.approx(float(F.cross_entropy(x_adv @ w.T + b, y)), rel=1e-5)


def test_registered_and_conformant():
    entry = get_registry().get("defense", "margins/fgsm-at")
    assert entry.load() is FGSMAT and entry.spec.paper.key == "P1"
    check_defense(entry)
