"""Defenses: conformance with the P4 CNN, the losses against independent computations, where the
IE gradient goes, checkpoint round trips, pinned defaults and a short behavioural run."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.api import TrainConfig, TrainContext
from bench.data.digits import Digits
from bench.registry import get_registry
from bench.testing.conformance import check_defense
from robarena_guessfirst.defenses.guess_first import CDV, CDVIE, CEnergy, CJS, CJSIE, GuessFirstIEConfig
from robarena_guessfirst.defenses.vib import VIB, VIBConfig
from robarena_guessfirst.mmd import label_mmd
from robarena_guessfirst.models.cnn import GuessFirstCNN
from robarena_guessfirst.models.vib import gaussian_kl_to_standard
from robarena_guessfirst.objectives import dv_objective, js_objective

DEFENSES = ["c-js", "c-dv", "c-energy", "c-js-ie", "c-dv-ie", "vib"]


def ctx(seed: int = 0) -> TrainContext:
    return TrainContext(device=torch.device("cpu"), seed=seed, generator=torch.Generator().manual_seed(seed))


def small_batch(n: int = 40):
    data = Digits(Digits.Config(n_train=n, n_test=8))()
    return data, data.x_train, data.y_train


def fresh(factory, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return factory()


@pytest.mark.parametrize("name", DEFENSES)
def test_conformance_with_the_p4_cnn_on_8x8_digits(name):
    """Deterministic for a seed, global RNG untouched, eval mode, (N, K) logits (bench.testing)."""
    entry = get_registry().get("defense", f"guessfirst/{name}")
    check_defense(entry, model_cls=GuessFirstCNN)
    assert not entry.spec.randomized


@pytest.mark.parametrize("cls, bound", [(CJS, js_objective), (CDV, dv_objective)])
def test_objective_losses_are_the_negated_bounds_of_all_hypothesis_scores(cls, bound):
    data, x, y = small_batch()
    d = cls()
    model = fresh(lambda: d.wrap(GuessFirstCNN(data.shape, 10))).train()
    loss = d.loss(model, x, y, ctx())
    torch.testing.assert_close(loss, -bound(model(x), y))
    with torch.no_grad():
        energy, ce = CEnergy().loss(model, x, y, ctx()), F.cross_entropy(model(x), y)
    torch.testing.assert_close(energy, ce - torch.log(torch.tensor(10.0)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls, bound", [(CJSIE, js_objective), (CDVIE, dv_objective)])
def test_ie_loss_adds_lambda_times_the_mmd_summed_over_hypotheses(cls, bound):
    data, x, y = small_batch()
    d = cls(cls.Config(ie_weight=0.3, sigma=2.0))
    model = fresh(lambda: d.wrap(GuessFirstCNN(data.shape, 10))).eval()  # eval: BN fixed, both passes agree
    h = model.features(x)
    rep = model.head.hidden(h, 2)  # post-ReLU output of FC 2 for each hypothesis: (N, K, 256)
    expected = -bound(model(x), y) + 0.3 * sum(label_mmd(rep[:, k], y, sigma=2.0) for k in range(10))
    torch.testing.assert_close(d.loss(model, x, y, ctx()), expected)


def test_ie_gradient_reaches_only_the_first_two_fc_layers():
    """P4 Appendix F: the MMD gradient updates the first and second fully connected layers."""
    data, x, y = small_batch()
    model = fresh(lambda: CJSIE().wrap(GuessFirstCNN(data.shape, 10))).train()
    _, rep = model.scores_and_hidden(x, 2, detach_trunk=True)
    label_mmd(rep, y).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is None for n, g in grads.items() if n.startswith("trunk")), "conv layers got an IE gradient"
    assert all(g is None for n, g in grads.items() if n.startswith(("head.layers.2", "head.out")))
    for n in ("head.layers.0.weight", "head.layers.1.weight"):
        assert grads[n] is not None and grads[n].abs().sum() > 0


def test_vib_loss_is_ce_of_a_generator_drawn_sample_plus_beta_kl():
    data, x, y = small_batch()
    d = VIB(VIBConfig(beta=0.25))
    model = fresh(lambda: d.wrap(GuessFirstCNN(data.shape, 10))).eval()
    c = ctx(5)
    reference = torch.Generator().manual_seed(5)
    loss = d.loss(model, x, y, c)
    mu, std = model.encode(x)
    z = mu + std * torch.randn(mu.shape, generator=reference)
    expected = F.cross_entropy(model.decode(z), y) + 0.25 * gaussian_kl_to_standard(mu, std).mean()
    torch.testing.assert_close(loss, expected)
    assert torch.equal(c.generator.get_state(), reference.get_state()), "the noise comes from ctx.generator"


@pytest.mark.parametrize("cls", [CJS, CDVIE, VIB])
def test_wrapped_models_rebuild_from_their_state_dict(cls):
    """The runner rebuilds ``wrap(build_model())`` and loads the checkpoint: same logits."""
    data = Digits(Digits.Config(n_train=64, n_test=16))()
    d = cls(train=TrainConfig(epochs=1, batch_size=16, optimizer="adam", lr=1e-3))
    trained = d(lambda: GuessFirstCNN(data.shape, 10), data, ctx(1))
    rebuilt = fresh(lambda: d.wrap(GuessFirstCNN(data.shape, 10)), seed=123)
    rebuilt.load_state_dict(trained.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(data.x_test), trained(data.x_test), rtol=0, atol=0)


def test_defaults_are_pinned():
    assert GuessFirstIEConfig().model_dump() == {"ie_weight": 0.05, "ie_layer": 2, "sigma": None, "unbiased": False}
    assert VIBConfig().model_dump() == {"beta": 1e-3, "std_offset": 5.0}
    assert (CJS.objective, CDV.objective, CEnergy.objective, CJSIE.objective, CDVIE.objective) == \
        ("js", "dv", "energy", "js", "dv")
    assert CJS.Config is not CJSIE.Config and "ie_weight" not in CJS.Config.model_fields


def test_c_js_learns_the_digits():
    """Behaviour: 5 epochs of Adam (lr 1e-3, batch 50) on 500 digits -> well above chance (10 %)."""
    data = Digits(Digits.Config(n_train=500, n_test=200))()
    train = TrainConfig(epochs=5, batch_size=50, optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant")
    model = CJS(train=train)(lambda: GuessFirstCNN(data.shape, 10), data, ctx(0))
    with torch.no_grad():
        acc = float((model(data.x_test).argmax(1) == data.y_test).float().mean())
    assert acc > 0.8
