"""Defenses: standard training accuracy, PGD-AT's loss and its determinism."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.api import TrainConfig
from bench.data.digits import Digits
from classics_helpers import generator, train_context
from robarena_classics.attacks.core import pgd_steps
from robarena_classics.defenses.pgd_at import PGDAT, PGDATConfig, adversarial_loss
from robarena_classics.defenses.standard import Standard
from robarena_classics.models.small_cnn import SmallCNN


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_standard_training_exceeds_90_percent_on_digits(standard_digits_model, digits):
    """6 epochs of SGD (lr 0.1, cosine) on the 1,297 training digits; the test split has 500."""
    assert not standard_digits_model.training
    assert accuracy(standard_digits_model, digits.x_test, digits.y_test) > 0.90


class ModeRecorder(nn.Module):
    """Records ``self.training`` at every forward call (to see the mode PGD-AT attacks in)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.modes: list[bool] = []

    def forward(self, x):
        self.modes.append(self.training)
        return self.inner(x)


def small_batch(n=32):
    data = Digits(Digits.Config(n_train=n, n_test=1))()
    return data.x_train, data.y_train


def test_pgd_at_loss_is_ce_of_pgd_examples_crafted_in_eval_mode():
    x, y = small_batch()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = ModeRecorder(SmallCNN((1, 8, 8), 10)).train()
    cfg = PGDATConfig(eps=0.1, steps=4, step_size=0.03)
    ctx = train_context(5)
    reference_gen = generator(5)  # the same stream the defense's generator will produce

    loss = adversarial_loss(model, x, y, ctx, cfg)

    assert model.modes == [False] * 4 + [True], "inner max in eval mode, outer loss in train mode"
    assert model.training
    assert all(p.grad is None for p in model.parameters()), "the inner loop must not touch parameter .grad"
    model.modes.clear()
    model.eval()
    x_adv = pgd_steps(model, x, y, cfg.threat(), steps=4, step_size=0.03, loss="ce", random_init=True,
                      generator=reference_gen, early_stop=False)
    model.train()
    expected = F.cross_entropy(model(x_adv), y)
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)
    assert torch.equal(ctx.generator.get_state(), reference_gen.get_state()), "random starts come from ctx.generator"
    assert float(loss.detach()) > float(F.cross_entropy(model(x), y).detach()), "the inner maximisation must raise the loss"
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6


def test_pgd_at_eps_accepts_fraction_strings_and_defaults_pin_p1():
    assert PGDATConfig(eps="8/255").eps == 8 / 255
    cfg = PGDATConfig()
    assert (cfg.norm, cfg.eps, cfg.steps, cfg.step_size, cfg.random_start) == ("Linf", 8 / 255, 10, 2 / 255, True)
    assert PGDATConfig(norm="L2", eps=0.5, step_size=None).absolute_step() == 2.5 * 0.5 / 10


def trained_state(defense_cls, config, seed: int, n: int = 96) -> dict:
    data = Digits(Digits.Config(n_train=n, n_test=16))()
    train = TrainConfig(epochs=1, batch_size=32, lr=0.05)
    model = defense_cls(config=config, train=train)(lambda: SmallCNN(data.shape, data.num_classes), data,
                                                      train_context(seed))
    return model.state_dict()


def test_pgd_at_training_is_deterministic_for_a_seed():
    cfg = PGDATConfig(eps=0.1, steps=3, step_size=0.05)
    rng = torch.get_rng_state()
    a, b = trained_state(PGDAT, cfg, 0), trained_state(PGDAT, cfg, 0)
    assert torch.equal(rng, torch.get_rng_state())
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = trained_state(PGDAT, cfg, 1)
    assert not all(torch.equal(a[k], c[k]) for k in a), "a different seed should train a different model"


def test_pgd_at_l2_trains():
    state = trained_state(PGDAT, PGDATConfig(norm="L2", eps=0.5, steps=2, step_size=None), 0, n=32)
    assert all(torch.isfinite(v).all() for v in state.values())


def test_standard_training_is_deterministic_for_a_seed():
    a, b = trained_state(Standard, Standard.Config(), 3), trained_state(Standard, Standard.Config(), 3)
    assert all(torch.equal(a[k], b[k]) for k in a)
