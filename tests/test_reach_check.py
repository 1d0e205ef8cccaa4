"""The plan-time eps-reachability check (bench.runner.reach_check) on fake components: which budgets are
refused, which noted, which opt out; and the warning line ``robarena run`` prints for a note."""
from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from typing import Optional

import pytest
from pydantic import Field

from bench.config import BaseConfig, TrainConfig
from bench.errors import ConfigError
from bench.runner.plan import AttackCell, Component, Plan, TrainCell
from bench.runner.reach_check import check_reach_of_plan
from bench.steps import StepBudget
from bench.threat import ThreatModel


class SteppedConfig(BaseConfig):
    steps: int = 20
    step_size: Optional[float] = None
    random_start: bool = True

    def step_budgets(self, threat: ThreatModel) -> list[StepBudget]:
        step = self.step_size if self.step_size is not None else float(threat.eps) / 4
        return [StepBudget(threat.norm, float(threat.eps), self.steps, step, self.random_start)]


class Stepped:
    Config = SteppedConfig


class StepFreeConfig(BaseConfig):
    steps: int = 1   # a step count but no step length: nothing to check


class StepFree:
    Config = StepFreeConfig


class InnerConfig(BaseConfig):
    eps: float = 8 / 255
    steps: int = 7
    step_size: float = 2 / 255
    random_start: bool = True
    trained: bool = Field(True, description="False: no inner attack at all")

    def step_budgets(self) -> list[StepBudget]:
        if not self.trained:
            return []
        return [StepBudget("Linf", self.eps, self.steps, self.step_size, self.random_start, "inner PGD")]


class Inner:
    Config = InnerConfig


def component(impl, label: str, **params) -> Component:
    entry = SimpleNamespace(load=lambda: impl, qualified_id=f"fake/{label}", kind="x")
    return Component(entry, tuple(sorted(params.items())), label)  # type: ignore[arg-type]


DATA = component(StepFree, "digits")


def plan_with(attacks=(), defenses=()) -> Plan:
    plan = Plan(suite=None)  # type: ignore[arg-type]
    for i, defense in enumerate(defenses or [component(StepFree, "standard")]):
        plan.train_cells.append(TrainCell(DATA, component(StepFree, "model"), defense, i, TrainConfig()))
    for attack, threat in attacks:
        plan.attack_cells.append(AttackCell(plan.train_cells[0], attack, threat))
    return plan


LINF_03 = ThreatModel(norm="Linf", eps=0.3)


def test_the_issues_configuration_is_refused_with_its_numbers_and_a_fix():
    """Linf 0.3 with 20 steps of 2/255 (the old absolute default) covers 0.157 < 0.3."""
    plan = plan_with([(component(Stepped, "pgd", step_size=2 / 255), LINF_03)])
    with pytest.raises(ConfigError) as err:
        check_reach_of_plan(plan)
    msg = str(err.value)
    assert "attack 'pgd' at Linf eps 0.3" in msg and "20 × 0.007843 = 0.1569 < eps = 0.3" in msg
    assert "step_size >= eps / steps = 0.015" in msg and "set step_size or steps" in msg
    assert ConfigError.exit_code == 2


def test_every_unreachable_configuration_is_listed_once():
    pgd = component(Stepped, "pgd", steps=3)                    # 3 x eps/4 < eps at any radius
    plan = plan_with([(pgd, LINF_03), (pgd, LINF_03), (pgd, ThreatModel(norm="L2", eps=0.5)),
                      (component(Stepped, "ok"), LINF_03)])
    plan.train_cells.append(TrainCell(DATA, component(StepFree, "model"), component(StepFree, "standard"), 9,
                                      TrainConfig()))
    plan.attack_cells.append(AttackCell(plan.train_cells[1], pgd, LINF_03))  # same attack and threat, other row
    with pytest.raises(ConfigError) as err:
        check_reach_of_plan(plan)
    lines = str(err.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["attack 'pgd' at Linf eps 0.3", "attack 'pgd' at L2 eps 0.5"]


@pytest.mark.parametrize("steps, step, random_start, status", [
    (20, None, True, None),            # the default: 20 x eps/4 = 5 eps
    (4, None, False, None),            # exactly eps from the clean input: reachable (float slack)
    (4, None, True, "marginal"),       # eps <= 4 x eps/4 < 2 eps from a random start
    (7, 0.08, True, "marginal"),
    (8, None, True, None),             # 2 eps: the far side is reachable from any start
    (3, None, False, "unreachable"),
])
def test_status_follows_the_reach_rule(steps, step, random_start, status):
    plan = plan_with([(component(Stepped, "pgd", steps=steps, step_size=step, random_start=random_start), LINF_03)])
    if status == "unreachable":
        with pytest.raises(ConfigError, match="never reaches the eps boundary"):
            check_reach_of_plan(plan)
        return
    check_reach_of_plan(plan)
    if status is None:
        assert plan.notes == []
    else:
        (what, why), = plan.notes
        assert what == "attack 'pgd' at Linf eps 0.3" and why.startswith("marginal: ") and "a warning only" in why


def test_components_without_a_step_notion_and_unbounded_threats_opt_out():
    unbounded = ThreatModel(norm="unbounded")
    plan = plan_with([(component(StepFree, "fgsm"), LINF_03), (component(Stepped, "pgd", steps=1), unbounded)],
                     defenses=[component(Inner, "standard-ish", trained=False)])
    check_reach_of_plan(plan)
    assert plan.notes == []


def test_defense_training_attacks_are_checked_and_published_settings_only_flagged():
    """Madry et al.'s CIFAR-10 PGD-AT (7 steps of 2/255 at 8/255, random start) is marginal: noted, runs."""
    madry = component(Inner, "PGD-AT")
    plan = plan_with(defenses=[madry, madry])
    check_reach_of_plan(plan)
    (what, why), = plan.notes   # checked once for both rows
    assert what == "defense 'PGD-AT' (inner PGD) at Linf eps 0.03137"
    assert "7 × 0.007843 = 0.0549 < 2 × eps = 0.06275" in why and "Madry et al.'s PGD-AT" in why
    too_short = component(Inner, "PGD-AT 0.3", eps=0.3)   # the same step at eps 0.3: 7 x 2/255 < 0.3
    with pytest.raises(ConfigError, match=r"defense 'PGD-AT 0.3' \(inner PGD\) at Linf eps 0.3: .*set the defense"):
        check_reach_of_plan(plan_with(defenses=[too_short]))


def test_run_report_prints_the_notes_as_warnings():
    from bench.cli.run import report

    result = SimpleNamespace(dropped=[], rows=[], computed=0, cached=0, failures=[], workdir="w",
                             plan=SimpleNamespace(notes=[("attack 'pgd' at Linf eps 0.3", "marginal: because")]))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = report(result, 0.0)
    assert code == 0 and "WARNING: attack 'pgd' at Linf eps 0.3: marginal: because" in err.getvalue()


def test_shipped_defense_configs_report_their_training_attacks():
    from bench.registry import get_registry

    registry = get_registry()
    load = lambda ident: registry.get("defense", ident).load().Config  # noqa: E731
    assert load("classics/pgd-at")().step_budgets() == [("Linf", 8 / 255, 10, 2 / 255, True, "inner PGD of training")]
    assert [b.what for b in load("classics/fast-at")().step_budgets()] == ["FGSM step of training",
                                                                        "PGD of the collapse check"]
    assert load("classics/fast-at")(early_stop=False).step_budgets()[0].step_size == 1.25 * 8 / 255
    trades, = load("classics/trades")().step_budgets()
    assert not trades.random_start and load("classics/trades")(beta=0).step_budgets() == []
    clip = load("margins/spectral-clip")
    assert len(clip().step_budgets()) == 1 and clip(base="standard").step_budgets() == []
