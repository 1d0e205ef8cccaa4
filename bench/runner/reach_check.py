"""Plan-time eps-reachability check of iterative attacks: refuse the unreachable, note the marginal.

Every attack cell's configuration and every defense's training attack is asked for its step
budgets (:class:`bench.steps.StepBudget`: norm, eps, steps, step length, random start):

* an attack ``Config`` reports them with ``step_budgets(threat) -> list[StepBudget]`` for the
  cell's threat model (classics' PGD and PGD-EOT one each; AutoAttack those of registered
  members that report one);
* a defense ``Config`` reports its training attacks' with ``step_budgets() -> list[StepBudget]``
  (its own threat model; e.g. PGD-AT's inner PGD, fast-AT's FGSM step and collapse check).

A component without the method (or with an empty list) has no step notion and opts out:
single-step attacks whose step is eps (FGSM), step-size-free or adaptive ones (APGD, Square),
minimal-distance attacks (C&W, FAB, DeepFool) and unbounded threat models (no boundary).

Each budget goes through :func:`bench.stats.check_reach`:

* **unreachable** (``steps * step_size < eps``): the attack never touches the eps boundary and
  under-attacks. :func:`check_reach_of_plan` raises :class:`~bench.errors.ConfigError` (exit 2,
  before anything runs) listing every such configuration with its fix;
* **marginal** (random start and ``steps * step_size < 2 eps``): appended to ``plan.notes`` as
  ``(what, why)`` and printed as a warning by ``robarena run`` / ``robarena eval``; the plan
  runs. Published settings can be marginal (Madry et al.'s CIFAR-10 PGD-AT, 7 steps of 2/255 at
  8/255 with a random start; fast-AT's single FGSM step of 1.25 eps): they are flagged, never
  refused.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

from bench.errors import ConfigError
from bench.stats import check_reach
from bench.steps import StepBudget

if TYPE_CHECKING:  # pragma: no cover
    from bench.runner.plan import Component, Plan
    from bench.threat import ThreatModel

MARGINAL_NOTE = ("a warning only, the configuration runs; published settings can be marginal by this rule, e.g. "
                 "Madry et al.'s PGD-AT, 7 steps of 2/255 at eps 8/255 from a random start, and Wong et al.'s "
                 "fast-AT, one FGSM step of 1.25 eps from a random start")


def component_config(comp: "Component") -> Optional[Any]:
    """The validated ``Config`` instance of a plan component (None for a component without one)."""
    config_cls = getattr(comp.entry.load(), "Config", None)
    return None if config_cls is None else config_cls(**comp.kwargs)


def attack_budgets(config: Any, threat: "ThreatModel") -> list[StepBudget]:
    """``config.step_budgets(threat)``, or ``[]`` when the attack has no step notion or no eps ball."""
    report = getattr(config, "step_budgets", None)
    if not callable(report) or threat.norm not in ("Linf", "L2"):
        return []
    return list(report(threat))


def defense_budgets(config: Any) -> list[StepBudget]:
    """``config.step_budgets()`` of a defense's config, or ``[]`` when it trains on no iterative attack."""
    report = getattr(config, "step_budgets", None)
    return list(report()) if callable(report) else []


def _identity(comp: "Component") -> tuple[str, str]:
    """A hashable identity of a component: its id and its parameters as canonical JSON (values may be dicts)."""
    return comp.qid, json.dumps(comp.kwargs, sort_keys=True, default=str)


def _subject(kind: str, label: str, budget: StepBudget) -> str:
    part = f" ({budget.what})" if budget.what else ""
    return f"{kind} {label!r}{part} at {budget.norm} eps {budget.eps:.4g}"


def check_reach_of_plan(plan: "Plan") -> None:
    """Check every attack cell's and every defense's step budgets (see the module docstring).

    Each distinct (component, threat model) is checked once. Appends the marginal ones to
    ``plan.notes``; raises :class:`ConfigError` listing all unreachable ones.
    """
    refused: list[str] = []
    seen: set[tuple] = set()
    configs: dict[tuple, Any] = {}

    def config_of(comp: "Component") -> Any:
        key = _identity(comp)
        if key not in configs:
            configs[key] = component_config(comp)
        return configs[key]

    def judge(subject: str, budget: StepBudget, fix: str) -> None:
        reach = check_reach(budget.norm, budget.eps, budget.step_size, budget.steps, budget.random_start)
        if reach.status == "unreachable":
            refused.append(f"{subject}: {reach.reason}; {fix}")
        elif reach.status == "marginal":
            plan.notes.append((subject, f"marginal: {reach.reason} ({MARGINAL_NOTE})"))

    for cell in plan.attack_cells:
        key = ("attack", *_identity(cell.attack), cell.threat)
        if key in seen:
            continue
        seen.add(key)
        for budget in attack_budgets(config_of(cell.attack), cell.threat):
            judge(_subject("attack", cell.attack.label, budget), budget,
                  "set step_size or steps in the attack's params (an unset step_size scales with eps)")
    for cell in plan.train_cells:
        if cell.defense is None:
            continue
        key = ("defense", *_identity(cell.defense))
        if key in seen:
            continue
        seen.add(key)
        for budget in defense_budgets(config_of(cell.defense)):
            judge(_subject("defense", cell.defense.label, budget), budget,
                  "set the defense's step size or steps in its params")
    if refused:
        raise ConfigError("attack configuration(s) that cannot reach the eps boundary (steps x step size < eps), "
                          "refused before anything runs:\n  " + "\n  ".join(refused))
