"""FAB-T (targeted FAB, AutoAttack's standard member) against closed forms on affine models."""
from __future__ import annotations

import pytest
import torch

from bench.threat import ThreatModel
from classics_helpers import interior_inputs, linear_model, tiny_mlp
from robarena_classics.attacks.fab import FAB, FABTargeted

from test_classics_minimal import boundary_distance, fab_fixed_point


def test_defaults_are_autoattacks():
    cfg = FABTargeted.Config()
    assert (cfg.n_target_classes, cfg.n_iter, cfg.restarts, cfg.alpha_max, cfg.eta, cfg.beta) == (9, 100, 1, 0.1, 1.05, 0.9)
    assert not FABTargeted.supports_targeted  # untargeted success, like AutoAttack's FAB-T


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_two_classes_fab_t_is_fab(norm):
    """With one rival class the targeted and untargeted searches are the same algorithm."""
    model = linear_model(2, seed=5).double()
    x = interior_inputs(100, seed=6).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm=norm, eps=10.0 if norm == "L2" else 1.0)
    a, b = FABTargeted()(model, x, y, threat), FAB()(model, x, y, threat)
    assert torch.equal(a.extras["distance"], b.extras["distance"]) and torch.equal(a.x_adv, b.x_adv)


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_all_targets_find_the_nearest_boundary_of_an_affine_model(norm):
    """Five-class affine model whose nearest boundaries lie inside the box (FAB's own closed-form
    case): with every target tried (eps tiny, so no example counts as done early) the smallest
    distance is FAB's, the closed-form distance times the Algorithm 1 factor; with only the top
    rival as target every distance is still at least the exact boundary distance."""
    model = linear_model(5, seed=3).double()
    x = interior_inputs(300, seed=4).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    exact = boundary_distance(model, x, y, norm)
    tiny = ThreatModel(norm=norm, eps=1e-6)
    dist = FABTargeted(FABTargeted.Config(n_target_classes=4))(model, x, y, tiny).extras["distance"]
    assert bool((dist >= exact * (1 - 1e-9)).all())
    assert bool((dist <= fab_fixed_point() * exact * (1 + 1e-9)).all())
    assert float((dist - fab_fixed_point() * exact).abs().max()) < 1e-9 * float(exact.max())
    out = FABTargeted(FABTargeted.Config(n_target_classes=1))(model, x, y, ThreatModel(norm=norm, eps=10.0 if norm == "L2" else 1.0))
    assert bool((out.extras["distance"] >= exact * (1 - 1e-9)).all())
    with torch.no_grad():
        assert bool((model(out.x_adv).argmax(1) != y).all())
    # more targets only help (an example not fooled within eps by target 1 is tried on target 2, ...),
    # and with all targets exactly the examples whose FAB distance is within eps are fooled
    small = ThreatModel(norm=norm, eps=float(exact.median()) * 1.01)
    one = FABTargeted(FABTargeted.Config(n_target_classes=1))(model, x, y, small).x_adv
    four = FABTargeted(FABTargeted.Config(n_target_classes=4))(model, x, y, small).x_adv
    with torch.no_grad():
        fooled_one, fooled_four = model(one).argmax(1) != y, model(four).argmax(1) != y
    assert bool((fooled_four | ~fooled_one).all())
    assert torch.equal(fooled_four, fab_fixed_point() * exact <= small.eps)  # the closed form, per example


def test_on_a_relu_network_examples_are_misclassified_and_within_eps():
    shape = (1, 4, 4)
    model = tiny_mlp(shape, 5, seed=7, hidden=16)
    x = interior_inputs(60, shape=shape, seed=8)
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel(norm="Linf", eps=0.05)
    out = FABTargeted(FABTargeted.Config(n_iter=30))(model, x, y, threat)
    with torch.no_grad():
        fooled = model(out.x_adv).argmax(1) != y
    assert fooled.any()
    assert bool((threat.distance(out.x_adv, x) <= 0.05 + 1e-6).all())
    assert torch.equal(out.x_adv[~fooled], x[~fooled])
    assert bool((out.extras["distance"][fooled] <= 0.05 + 1e-6).all())
