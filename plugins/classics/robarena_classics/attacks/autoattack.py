"""AutoAttack-style ensemble: members run in turn on the points still robust.

Paper: F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks", ICML 2020 (https://arxiv.org/abs/2003.01690), Section 5.

Versions (member lists, in order):

* ``"standard"``: APGD-CE (100 iterations, 1 restart), APGD-T (9 target classes, 100
  iterations, 1 restart each), FAB-T (9 target classes, 100 iterations, 1 restart each),
  Square (5000 queries, ``p_init`` 0.8, 1 restart, schedule *not* rescaled to the budget):
  the published standard version, as ``AutoAttack.__init__`` and ``set_version("standard")``
  of the authors' code set it for Linf and L2 (github.com/fra31/auto-attack,
  ``autoattack/autoattack.py``; APGD ``rho`` 0.75, ``eot_iter`` 1; FAB ``alpha_max`` 0.1,
  ``eta`` 1.05, ``beta`` 0.9 from ``fab_base.py``). ``STANDARD_SETTINGS`` lists them.
* ``"rand"`` (randomized defenses): APGD-CE and APGD-DLR with 20 EOT iterations.
* ``"custom"``: the list given in ``members``.

Members are this module's own names ``"apgd-ce"``, ``"apgd-dlr"``, ``"apgd-t"``, ``"fab-t"``, ``"square"``,
or any registered attack id with a ``/`` (``"<plugin>/<name>"``, resolved through the
registry). Each member runs only on the examples that are clean-correct and that no earlier
member fooled, with a fresh generator seeded with the ensemble's seed. The APGD members and
Square draw their random numbers for the full batch (:mod:`.aa_common`) and FAB-T (one restart)
draws none and treats every example independently, so an example is fooled by the ensemble
exactly when some member run alone on the full batch with the same seed fools it (up to float
rounding that depends on the batch size); registry members are called on the still-robust
subset and carry no such guarantee.
Success is checked by the ensemble's own forward pass on each member's examples.

Returns, per example, the first successful member's adversarial example, else the clean
input, and ``extras["member"]`` (N,) int64: the index in the member list of the member that
fooled it, ``-1`` when none did (clean-misclassified examples included).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import torch
from pydantic import Field, model_validator
from torch import nn

from bench.api import Attack, AttackOutput, BaseConfig, Cost
from bench.errors import UsageError
from bench.steps import StepBudget
from bench.threat import ThreatModel
from robarena_classics.attacks.aa_common import clean_correct
from robarena_classics.attacks.apgd import APGDCE, APGDDLR, APGDT
from robarena_classics.attacks.fab import FABTargeted
from robarena_classics.attacks.square import Square

OWN_MEMBERS: dict[str, type[Attack]] = {"apgd-ce": APGDCE, "apgd-dlr": APGDDLR, "apgd-t": APGDT, "fab-t": FABTargeted,
                                        "square": Square}

#: every member's settings in the standard version (Linf, L2) of the reference code; the members' own
#: defaults are these except Square's rescale_schedule (the standalone SquareAttack rescales by default)
STANDARD_SETTINGS: dict[str, dict[str, Any]] = {
    "apgd-ce": {"n_iter": 100, "n_restarts": 1, "rho": 0.75, "eot_iter": 1},
    "apgd-t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": 9, "rho": 0.75, "eot_iter": 1},
    "fab-t": {"n_iter": 100, "restarts": 1, "n_target_classes": 9, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
    "square": {"n_queries": 5000, "p_init": 0.8, "n_restarts": 1, "rescale_schedule": False},
}

#: member lists and per-member settings of the published versions
VERSIONS: dict[str, tuple[list[str], dict[str, dict[str, Any]]]] = {
    "standard": (["apgd-ce", "apgd-t", "fab-t", "square"], STANDARD_SETTINGS),
    "rand": (["apgd-ce", "apgd-dlr"], {"apgd-ce": {"eot_iter": 20}, "apgd-dlr": {"eot_iter": 20}}),
}


class AutoAttackConfig(BaseConfig):
    """Parameters of :class:`AutoAttack`."""

    version: Literal["standard", "rand", "custom"] = Field(
        "standard", description="'standard' (APGD-CE, APGD-T, FAB-T, Square), 'rand' (APGD-CE, APGD-DLR, EOT 20) "
                                "or 'custom' (the list in members)")
    members: Optional[list[str]] = Field(
        None, description="member names (apgd-ce, apgd-dlr, apgd-t, fab-t, square) or registered attack ids "
                          "'<plugin>/<name>', run in this order; default: the version's list")
    member_configs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-member config overrides, e.g. {square = {n_queries = 1000}}")

    @model_validator(mode="after")
    def _check_members(self) -> "AutoAttackConfig":
        if self.version == "custom" and not self.members:
            raise ValueError("version 'custom' needs a non-empty members list")
        names = self.member_names()
        for name in names:
            if name not in OWN_MEMBERS and "/" not in name:
                raise ValueError(f"unknown member {name!r}: use one of {sorted(OWN_MEMBERS)} or a registered "
                                 "attack id '<plugin>/<name>'")
        if len(set(names)) != len(names):
            raise ValueError(f"members {names} repeat a name; each member runs once")
        unknown = sorted(set(self.member_configs) - set(names))
        if unknown:
            raise ValueError(f"member_configs names {unknown}, which are not members {names}")
        return self

    def member_names(self) -> list[str]:
        return list(self.members) if self.members else list(VERSIONS.get(self.version, ([], {}))[0])

    def member_config(self, name: str) -> dict[str, Any]:
        defaults = VERSIONS.get(self.version, ([], {}))[1].get(name, {})
        return {**defaults, **self.member_configs.get(name, {})}

    def step_budgets(self, threat: ThreatModel) -> list[StepBudget]:
        """The step budgets of registered members that report one (the plan's eps-reachability check).

        The own members have none to check: APGD starts with a step of 2 eps and adapts it, FAB
        measures distances, Square sets whole windows to the eps boundary.
        """
        out: list[StepBudget] = []
        for name in self.member_names():
            if name in OWN_MEMBERS:
                continue
            from bench.registry import get_registry

            impl = get_registry().get("attack", name).load()
            try:
                config = impl.Config(**self.member_config(name))
            except ValueError as exc:
                raise UsageError(f"autoattack member {name!r}: invalid member_configs "
                                 f"{self.member_config(name)}: {exc}") from None
            report = getattr(config, "step_budgets", None)
            for b in report(threat) if callable(report) else []:
                out.append(b._replace(what=f"member {name}" + (f", {b.what}" if b.what else "")))
        return out


class AutoAttack(Attack):
    """The AutoAttack ensemble (see the module docstring for versions and members).

    Threat model: Linf or L2 ball of radius eps intersected with the box, untargeted (every
    member must support the threat model).

    Args (``AutoAttackConfig``): version="standard", members=None (the version's list),
    member_configs={}. ``seed``: seed given to every member.

    Shapes: ``x`` (N, C, H, W) in the box, ``y`` (N,) int64; returns ``AttackOutput`` with
    ``x_adv`` (N, C, H, W) and ``extras["member"]`` (N,) int64.

    Example::

        out = AutoAttack(seed=0)(model, x, y, ThreatModel(norm="Linf", eps=8 / 255))
        x_adv, who = out.x_adv, out.extras["member"]
    """

    Config = AutoAttackConfig

    @classmethod
    def smoke_config(cls) -> AutoAttackConfig:
        """Conformance checks: the standard members with small budgets."""
        return cls.Config(member_configs={"apgd-ce": {"n_iter": 10}, "apgd-t": {"n_iter": 10, "n_target_classes": 2},
                                          "fab-t": {"n_iter": 10, "n_target_classes": 2}, "square": {"n_queries": 100}})
    norms = ("Linf", "L2")
    supports_targeted = False

    def members(self) -> list[tuple[str, Attack]]:
        """(name, attack instance) of every member, in order."""
        out = []
        for name in self.config.member_names():
            params = self.config.member_config(name)
            if name in OWN_MEMBERS:
                impl = OWN_MEMBERS[name]
            else:
                from bench.registry import get_registry

                impl = get_registry().get("attack", name).load()
            try:
                config = impl.Config(**params)
            except ValueError as exc:
                raise UsageError(f"autoattack member {name!r}: invalid member_configs {params}: {exc}") from None
            out.append((name, impl(config=config, seed=self.seed)))
        return out

    def cost(self, threat: ThreatModel) -> Optional[Cost]:
        """Per example, an upper bound (``bench.api.cost``): 1 clean forward, then every member on every example
        (no one leaves the robust set) plus 1 forward scoring its output. A member called through
        ``attack_active`` counts its ``active_cost`` when it has one (its ``cost`` less its own clean check),
        else its ``cost``; None when a member declares neither."""
        total = Cost(1, 0)
        for _, attack in self.members():
            active = getattr(attack, "active_cost", None)
            declared = getattr(attack, "cost", None)
            if hasattr(attack, "attack_active") and callable(active):
                part = active(threat)
            elif callable(declared):
                part = declared(threat)
            else:
                return None
            if part is None:
                return None
            total = total + part + Cost(1, 0)
        return total

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
            generator: torch.Generator, target: Optional[torch.Tensor] = None) -> AttackOutput:
        members = self.members()
        for name, attack in members:
            if threat.norm not in attack.norms:
                raise UsageError(f"autoattack member {name!r} supports norms {list(attack.norms)}, not "
                                 f"{threat.norm!r}; choose members that do (version='custom')")
        robust = clean_correct(model, x, y)
        x_adv = x.detach().clone()
        member = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        for i, (_, attack) in enumerate(members):
            idx = robust.nonzero().flatten()
            if idx.numel() == 0:
                break
            if hasattr(attack, "attack_active"):
                gen = torch.Generator(device=generator.device).manual_seed(self.seed)
                candidate = attack.attack_active(model, x, y, threat, gen, robust)[idx]
            else:
                candidate = attack(model, x[idx], y[idx], threat).x_adv
            with torch.no_grad():
                fooled = model(candidate).argmax(dim=1) != y[idx]
            hit = idx[fooled]
            x_adv[hit], member[hit], robust[hit] = candidate[fooled], i, False
        return AttackOutput(x_adv, {"member": member})
