"""The AutoAttack-style ensemble: published member lists, the per-example OR of its members,
attribution of each success, registry members and configuration errors."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from bench.errors import UsageError
from bench.threat import ThreatModel
from classics_helpers import generator, tiny_mlp
from robarena_classics.attacks.apgd import APGDCE, APGDDLR, APGDT
from robarena_classics.attacks.autoattack import AutoAttack
from robarena_classics.attacks.fgsm import FGSM
from robarena_classics.attacks.fab import FABTargeted
from robarena_classics.attacks.square import Square


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These models are tiny: intra-op threads only add overhead (about 10x on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# few iterations, so that every member is needed somewhere (and the tests stay fast)
SMALL = {"apgd-ce": {"n_iter": 2}, "apgd-t": {"n_iter": 5, "n_target_classes": 3},
         "apgd-dlr": {"n_iter": 5}, "fab-t": {"n_iter": 3, "n_target_classes": 2}, "square": {"n_queries": 30}}


def test_published_versions():
    standard = dict(AutoAttack(seed=0).members())
    assert list(standard) == ["apgd-ce", "apgd-t", "fab-t", "square"]  # Croce and Hein 2020, Sec. 5
    ce, t, fab, sq = standard["apgd-ce"], standard["apgd-t"], standard["fab-t"], standard["square"]
    assert isinstance(ce, APGDCE) and isinstance(t, APGDT) and isinstance(fab, FABTargeted) and isinstance(sq, Square)
    assert (fab.config.n_iter, fab.config.restarts, fab.config.n_target_classes) == (100, 1, 9)
    assert (ce.config.n_iter, ce.config.n_restarts, ce.config.eot_iter) == (100, 1, 1)
    assert (t.config.n_iter, t.config.n_restarts, t.config.n_target_classes) == (100, 1, 9)
    assert (sq.config.n_queries, sq.config.p_init, sq.config.n_restarts) == (5000, 0.8, 1)
    assert sq.config.rescale_schedule is False  # standard runs Square with resc_schedule=False
    assert (ce.config.rho, t.config.rho, t.config.eot_iter) == (0.75, 0.75, 1)
    assert (fab.config.alpha_max, fab.config.eta, fab.config.beta) == (0.1, 1.05, 0.9)
    rand = dict(AutoAttack(AutoAttack.Config(version="rand"), seed=0).members())
    assert list(rand) == ["apgd-ce", "apgd-dlr"] and isinstance(rand["apgd-dlr"], APGDDLR)
    assert all((a.config.eot_iter, a.config.n_iter, a.config.n_restarts) == (20, 100, 1) for a in rand.values())
    assert AutoAttack.Config().version == "standard"


def batch(n=40, shape=(1, 5, 5), k=10, seed=0):
    model = tiny_mlp(shape, k, seed=seed)
    x = torch.rand((n, *shape), generator=generator(seed + 1))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % k  # three clean-misclassified examples
    return model, x, y


@pytest.mark.parametrize("norm, eps", [("Linf", 0.06), ("L2", 0.25)])
@pytest.mark.parametrize("version, members", [("standard", ["apgd-ce", "apgd-t", "fab-t", "square"]),
                                              ("custom", ["square", "apgd-dlr", "apgd-ce"])])
def test_ensemble_is_the_per_example_or_of_its_members(norm, eps, version, members):
    """Running members only on the points still robust changes nothing: the ensemble fools
    exactly the examples some member fools on the full batch (same seed), credits the first
    such member, returns that member's example, and returns the clean input elsewhere."""
    model, x, y = batch(n=60)
    threat = ThreatModel(norm=norm, eps=eps)
    cfg = AutoAttack.Config(version=version, members=members if version == "custom" else None,
                            member_configs={m: SMALL[m] for m in members})
    out = AutoAttack(cfg, seed=5)(model, x, y, threat)
    clean_ok = model(x).argmax(1) == y
    alone = []
    for name, attack in AutoAttack(cfg, seed=5).members():
        assert attack.seed == 5
        x_m = attack(model, x, y, threat).x_adv
        with torch.no_grad():
            alone.append((x_m, (model(x_m).argmax(1) != y) & clean_ok))
    any_fooled = torch.stack([f for _, f in alone]).any(0)
    with torch.no_grad():
        ens_fooled = (model(out.x_adv).argmax(1) != y) & clean_ok
    assert torch.equal(ens_fooled, any_fooled)
    expected_member = torch.full_like(y, -1)
    for i in reversed(range(len(alone))):
        expected_member[alone[i][1]] = i
    assert torch.equal(out.extras["member"], expected_member)
    for i, (x_m, fooled) in enumerate(alone):
        first = expected_member == i
        # equal up to float rounding: batched forward passes of different sizes may round differently
        torch.testing.assert_close(out.x_adv[first], x_m[first], rtol=0, atol=1e-6)
    assert torch.equal(out.x_adv[~any_fooled], x[~any_fooled])
    counts = torch.bincount(expected_member + 1, minlength=len(members) + 1)
    assert counts[0] > 3 and counts[1] > 0 and counts[2] > 0, "the case must exercise several members"


def test_registry_members_and_determinism():
    """A registered attack id is a member too: FGSM ('classics/fgsm') goes first and APGD-CE
    then only gets the examples FGSM missed."""
    model, x, y = batch(seed=3)
    threat = ThreatModel(norm="Linf", eps=0.04)
    cfg = AutoAttack.Config(version="custom", members=["classics/fgsm", "apgd-ce"],
                            member_configs={"apgd-ce": {"n_iter": 10}})
    out = AutoAttack(cfg, seed=1)(model, x, y, threat)
    assert torch.equal(out.x_adv, AutoAttack(cfg, seed=1)(model, x, y, threat).x_adv)
    with torch.no_grad():
        by_fgsm = (model(FGSM()(model, x, y, threat).x_adv).argmax(1) != y) & (model(x).argmax(1) == y)
    assert by_fgsm.sum() > 0
    assert torch.equal(out.extras["member"] == 0, by_fgsm)
    assert (out.extras["member"] == 1).sum() > 0
    assert bool((out.extras["member"][:3] == -1).all()) and torch.equal(out.x_adv[:3], x[:3])


def test_configuration_errors():
    with pytest.raises(ValidationError, match="custom"):
        AutoAttack.Config(version="custom")
    with pytest.raises(ValidationError, match="unknown member"):
        AutoAttack.Config(members=["apgd-xx"])
    with pytest.raises(ValidationError, match="not members"):
        AutoAttack.Config(member_configs={"apgd-dlr": {"n_iter": 5}})
    with pytest.raises(ValidationError, match="repeat"):
        AutoAttack.Config(members=["square", "square"])
    model, x, y = batch(n=4)
    with pytest.raises(UsageError, match="member_configs"):
        AutoAttack(AutoAttack.Config(member_configs={"square": {"n_querys": 5}}))(
            model, x, y, ThreatModel(norm="Linf", eps=0.1))
    three = tiny_mlp((1, 5, 5), 3, seed=0)  # APGD-T's targeted DLR needs 4 classes
    with torch.no_grad():
        y3 = three(x).argmax(1)
    small = AutoAttack.Config(member_configs={k: SMALL[k] for k in ("apgd-ce", "apgd-t", "fab-t", "square")})
    with pytest.raises(UsageError, match="4 classes"):
        AutoAttack(small)(three, x, y3, ThreatModel(norm="Linf", eps=1e-4))


def test_standard_members_use_the_published_standard_settings():
    """Every member's settings in the standard version, against the reference code's values
    (github.com/fra31/auto-attack, autoattack/autoattack.py: AutoAttack.__init__ and set_version('standard'),
    Linf/L2; FAB's alpha_max, eta, beta from fab_base.py): APGD-CE 100 iterations, 1 restart, rho 0.75, no EOT;
    APGD-T 9 targets x 1 restart of 100 iterations; FAB-T 9 targets, 100 iterations, 1 restart; Square 5000
    queries, p_init 0.8, 1 restart, schedule not rescaled. A user override still wins."""
    published = {
        "apgd-ce": {"n_iter": 100, "n_restarts": 1, "rho": 0.75, "eot_iter": 1},
        "apgd-t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": 9, "rho": 0.75, "eot_iter": 1},
        "fab-t": {"n_iter": 100, "restarts": 1, "n_target_classes": 9, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "square": {"n_queries": 5000, "p_init": 0.8, "n_restarts": 1, "rescale_schedule": False},
    }
    members = dict(AutoAttack(seed=0).members())
    for name, settings in published.items():
        assert {k: getattr(members[name].config, k) for k in settings} == settings, name
    custom = dict(AutoAttack(AutoAttack.Config(member_configs={"square": {"rescale_schedule": True,
                                                                          "n_queries": 100}})).members())
    assert (custom["square"].config.rescale_schedule, custom["square"].config.n_queries) == (True, 100)
    assert custom["square"].config.p_init == 0.8
    # a standalone Square keeps the reference SquareAttack's own default (rescaled)
    assert Square().config.rescale_schedule is True
    # AutoAttack's own members have no step length to check at plan time
    assert AutoAttack.Config().step_budgets(ThreatModel(norm="Linf", eps=0.3)) == []


def test_registered_members_report_their_step_budgets():
    cfg = AutoAttack.Config(version="custom", members=["apgd-ce", "classics/pgd"],
                            member_configs={"classics/pgd": {"steps": 3}})
    assert cfg.step_budgets(ThreatModel(norm="Linf", eps=0.2)) == [("Linf", 0.2, 3, 0.05, True, "member classics/pgd")]
