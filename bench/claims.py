"""Evaluate the registered claims of a suite over its results (``robarena claims SUITE``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from bench.api.claim import ClaimDataMissing, ClaimResult
from bench.errors import RobarenaError


@dataclass
class ClaimOutcome:
    claim: str  # qualified id
    statement: str
    paper: str
    result: ClaimResult

    @property
    def status(self) -> str:
        return {True: "holds", False: "does not hold", None: "not checked"}[self.result.holds]


def suite_matches(claim_suite: str, suite_name: str) -> bool:
    """A claim names its suite as ``name`` or ``plugin/name``; runs are stored under ``name``."""
    return claim_suite == suite_name or claim_suite.split("/", 1)[-1] == suite_name.split("/", 1)[-1]


def claims_for(registry: Any, suite_name: str) -> list[Any]:
    return [e for e in registry.entries("claim") if suite_matches(e.spec.suite, suite_name)]


def evaluate_claims(entries: Iterable[Any], frame: Any) -> list[ClaimOutcome]:
    """Run each claim on ``frame``; a claim that raises is reported, never hidden."""
    outcomes = []
    for entry in entries:
        paper = (entry.spec.paper.key or entry.spec.paper.title) if entry.spec.paper is not None else ""
        try:
            result = entry.load()(frame)
            if not isinstance(result, ClaimResult):
                raise RobarenaError(f"returned {type(result).__name__}, expected ClaimResult")
            result = ClaimResult(None if result.holds is None else bool(result.holds),
                                 {k: float(v) for k, v in result.numbers.items()}, result.detail)
        except ClaimDataMissing as exc:
            result = ClaimResult(None, {}, f"missing data: {exc}")
        except Exception as exc:  # a broken claim is a finding about the claim, not a crash
            result = ClaimResult(None, {}, f"claim raised {type(exc).__name__}: {exc}")
        outcomes.append(ClaimOutcome(entry.qualified_id, entry.spec.statement, paper, result))
    return outcomes


def format_numbers(numbers: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in numbers.items())


def outcomes_table(outcomes: list[ClaimOutcome], fmt: str = "github") -> str:
    from tabulate import tabulate

    rows = [[o.claim, o.status, o.statement, format_numbers(o.result.numbers), o.result.detail] for o in outcomes]
    return tabulate(rows, headers=["claim", "status", "statement", "numbers", "detail"], tablefmt=fmt)


def outcomes_json(outcomes: list[ClaimOutcome]) -> list[dict[str, Optional[Any]]]:
    return [{"claim": o.claim, "paper": o.paper, "statement": o.statement, "holds": o.result.holds,
             "status": o.status, "numbers": o.result.numbers, "detail": o.result.detail} for o in outcomes]
