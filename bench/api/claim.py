"""Claim base: a paper's qualitative statement as an executable check over a suite's results.

A claim implementation is a plain function ``check(frame) -> ClaimResult`` named by a
:class:`bench.specs.ClaimSpec` (``target = "pkg.claims:adv_training_lowers_fisher"``). ``frame``
is the suite's leaderboard frame (:func:`bench.rows.frame.to_frame`): one row per trained
model, label columns (``dataset``, ``model``, ``defense``, ``seed``, ...) and float metric columns
named ``clean``, ``robust[<attack> <threat>]``, ``ensemble[<threat>]``, ``probe[<probe>.<col>]``,
``task[<task>.<metric>]``. Those names are display labels: a claim never builds or parses one.
It finds its columns by parameters — :func:`robust_column` (attack id, norm, eps, targeted,
attack parameters), :func:`worst_case_column` (threat), :func:`metric_column` (probe or task id
and column) — and its rows by component ids and parameters (:func:`select_where`,
:func:`component_params`), from the descriptions the frame carries (``frame.attrs``, see
:mod:`bench.rows.frame`). The helpers turn a missing row or column into
:class:`ClaimDataMissing`, which the claim runner reports as "not checked" (never as holding).

Verdicts. A claim returns a :class:`ClaimResult` with a :class:`bench.stats.Verdict` (holds / does
not hold / inconclusive / error), the test it used, its significance level (default
:data:`DEFAULT_LEVEL`) and the evidence: statistic, one-sided p-value (and the reverse one),
interval, the numbers compared and a detail line. The decision helpers below cover the shapes the
papers' claims take:

* "A > B" on an accuracy (:func:`compare_accuracies`): one-sided Fisher's exact test on the counts
  (``frame.attrs["counts"]``, :func:`accuracy_counts`), or a one-sided paired t-test over seeds when
  both sides have at least two seeds in common; on an accuracy and one nested in it, such as the
  robust accuracy of a model and its clean accuracy (:func:`compare_nested_accuracies`): exact McNemar;
* "A > B" on a probe or task metric, which has no count (:func:`compare_metrics`,
  :func:`compare_seed_values`): the paired t-test over seeds; with one seed there is no sampling
  distribution and the verdict is INCONCLUSIVE, saying so;
* a trend over a sweep (:func:`trend`): each consecutive step tested one-sided at the level, combined
  by :func:`bench.api.claim_stats.every` (holds when every step holds; does not hold when one step
  is significant the other way after Bonferroni over the steps);
* "within a tolerance": of another accuracy (:func:`accuracy_noninferior`, Newcombe's interval), of
  a paper's value (:func:`accuracy_vs_reference`, exact binomial TOST), or a bound the claim states
  on a metric (:func:`metric_bound`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from bench.api.claim_stats import (bound, compare_mean_accuracies, every, inconclusive, noninferiority, reference,
                                   some, spearman_trend)
from bench.errors import RobarenaError
from bench.stats import Decision, Verdict, compare_proportions, compare_seeds, mcnemar_counts

#: the significance level of every claim that does not state another
DEFAULT_LEVEL = 0.05
#: the status of a claim whose data are missing (:class:`ClaimDataMissing`)
NOT_CHECKED = "not checked"
NAN = math.nan


class ClaimDataMissing(RobarenaError):
    """The results lack a row or column the claim needs (the suite was cut down, or a cell failed)."""


@dataclass
class ClaimResult:
    """A claim's verdict with its test and evidence.

    ``verdict``: a :class:`bench.stats.Verdict`, or None when the claim could not be checked (its
    data are missing: the suite was cut down or a cell failed; that is not a finding about the
    claim, so it is no verdict at all). For compatibility a bool is accepted: True is HOLDS and
    False DOES_NOT_HOLD (a bare inequality with no test; its ``test`` stays empty).
    ``test`` and ``level``: the test and its significance level; ``statistic``, ``p_value`` (one-sided,
    for the claim), ``p_reverse`` (one-sided, against it) and ``interval`` (low, high) where the test
    has them, nan / None otherwise; ``numbers``: the values compared; ``detail``: one line on how
    the verdict was reached (further lines: context).
    """

    verdict: Union[Verdict, bool, None]
    numbers: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    test: str = ""
    level: float = NAN
    statistic: float = NAN
    p_value: float = NAN
    p_reverse: float = NAN
    interval: Optional[tuple[float, float]] = None

    def __post_init__(self) -> None:
        v = self.verdict
        if isinstance(v, Verdict) or v is None:
            return
        if isinstance(v, bool):
            self.verdict = Verdict.HOLDS if v else Verdict.DOES_NOT_HOLD
        elif isinstance(v, str):
            self.verdict = None if v == NOT_CHECKED else Verdict(v)
        else:
            raise TypeError(f"a claim's verdict is a bench.stats.Verdict, a bool or None, got {v!r}")

    @property
    def holds(self) -> Optional[bool]:
        """True only for HOLDS; None when not checked; False otherwise (compatibility view)."""
        return None if self.verdict is None else self.verdict is Verdict.HOLDS

    @property
    def status(self) -> str:
        """``"holds"``, ``"does not hold"``, ``"inconclusive"``, ``"error"`` or ``"not checked"``."""
        return NOT_CHECKED if self.verdict is None else str(self.verdict)

    @classmethod
    def of(cls, decision: Decision, numbers: Optional[Mapping[str, float]] = None, context: str = "") -> "ClaimResult":
        """The result of ``decision`` (:mod:`bench.stats` or the helpers here) with the compared
        ``numbers``; ``context`` goes on a line after the decision's own detail."""
        interval = None if decision.interval is None else (float(decision.interval.low), float(decision.interval.high))
        detail = decision.detail + (f"\n{context}" if context else "")
        return cls(decision.verdict, dict(numbers or {}), detail, decision.test, decision.level,
                   decision.statistic, decision.p_value, decision.p_reverse, interval)

    @classmethod
    def not_checked(cls, reason: str) -> "ClaimResult":
        return cls(None, {}, f"missing data: {reason}")

    @classmethod
    def error(cls, exc: BaseException) -> "ClaimResult":
        """A claim that raised: ERROR with the exception's type and message (a finding about the claim)."""
        return cls(Verdict.ERROR, {}, f"claim raised {type(exc).__name__}: {exc}")


def select(frame: Any, **labels: Any) -> Any:
    """Rows of ``frame`` whose label columns equal ``labels`` (e.g. ``defense="PGD-AT"``); at least one."""
    rows = frame
    for name, wanted in labels.items():
        if name not in rows.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
        rows = rows[rows[name] == wanted]
    if len(rows) == 0:
        shown = ", ".join(f"{k}={v!r}" for k, v in labels.items())
        raise ClaimDataMissing(f"no row with {shown}")
    return rows


def value(frame: Any, column: str, **labels: Any) -> float:
    """The mean of ``column`` over the rows matching ``labels`` (means over seeds); finite or missing."""
    rows = select(frame, **labels)
    if column not in rows.columns:
        raise ClaimDataMissing(f"results have no column {column!r}")
    values = [float(v) for v in rows[column] if v is not None and not math.isnan(float(v))]
    if not values:
        shown = ", ".join(f"{k}={v!r}" for k, v in labels.items())
        raise ClaimDataMissing(f"column {column!r} is empty for {shown}")
    return sum(values) / len(values)


def optional_value(frame: Any, column: str, **labels: Any) -> Optional[float]:
    """:func:`value`, or None where the row or column is missing (for context numbers, not verdicts)."""
    try:
        return value(frame, column, **labels)
    except ClaimDataMissing:
        return None


def _one_column(frame: Any, kind: str, what: str, **wanted: Any) -> str:
    from bench.rows.frame import find_columns

    names = find_columns(frame, kind, **wanted)
    if len(names) != 1:
        shown = ", ".join(f"{k}={v!r}" for k, v in wanted.items() if v is not None)
        raise ClaimDataMissing(f"{len(names)} {what} columns match {shown or '(anything)'}: {names}")
    return names[0]


def robust_columns(frame: Any, attack: Optional[str] = None, *, norm: Optional[str] = None,
                   eps: Optional[float] = None, targeted: Optional[bool] = False, transfer: Optional[bool] = None,
                   **params: Any) -> list[str]:
    """Every robust-accuracy column of attack id ``attack`` at the threat (None: any) with these parameters."""
    from bench.rows.frame import find_columns

    return find_columns(frame, "robust", id=attack, norm=norm, eps=eps, targeted=targeted, transfer=transfer,
                        params=params or None)


def robust_column(frame: Any, attack: Optional[str] = None, *, norm: Optional[str] = None,
                  eps: Optional[float] = None, targeted: Optional[bool] = False, transfer: Optional[bool] = None,
                  **params: Any) -> str:
    """The one robust-accuracy column of attack id ``attack`` (e.g. ``"classics/pgd"``) at threat
    (``norm``, ``eps`` within 1e-9, ``targeted``), white-box or ``transfer``, with attack parameters
    ``params`` (a subset, e.g. ``loss="cw"``); None matches anything."""
    return _one_column(frame, "robust", "robust-accuracy", id=attack, norm=norm, eps=eps, targeted=targeted,
                       transfer=transfer, params=params or None)


def worst_case_column(frame: Any, *, norm: Optional[str] = None, eps: Optional[float] = None,
                      targeted: Optional[bool] = False) -> str:
    """The one worst-case column (over the suite's attacks) at this threat."""
    return _one_column(frame, "worst", "worst-case", norm=norm, eps=eps, targeted=targeted)


def metric_column(frame: Any, source: str, column: str, **params: Any) -> str:
    """The one probe or task column ``column`` of component id ``source`` (e.g. ``"classics/margin"``)."""
    from bench.rows.frame import find_columns

    names = [c for kind in ("probe", "task")
             for c in find_columns(frame, kind, id=source, name=column, params=params or None)]
    if len(names) != 1:
        raise ClaimDataMissing(f"{len(names)} columns of {source!r} are named {column!r}: {names}")
    return names[0]


def component_params(frame: Any, row_id: str, role: str) -> dict[str, Any]:
    """The validated parameters of a row's ``role`` component ('dataset', 'model' or 'defense')."""
    params = frame.attrs.get("params", {})
    if row_id not in params:
        raise ClaimDataMissing(f"no parameters recorded for row {row_id!r}")
    return dict(params[row_id][role])


def select_where(frame: Any, *, dataset_id: Optional[str] = None, model_id: Optional[str] = None,
                 defense_id: Optional[str] = None, defense_params: Optional[dict[str, Any]] = None,
                 model_params: Optional[dict[str, Any]] = None) -> Any:
    """Rows by component ids and parameter values (a subset of the recorded parameters; floats within 1e-9)."""
    rows = frame
    for name, wanted in (("dataset_id", dataset_id), ("model_id", model_id), ("defense_id", defense_id)):
        if wanted is not None:
            rows = rows[rows[name] == wanted]
    for role, wanted in (("defense", defense_params), ("model", model_params)):
        if wanted:
            keep = [all(_same(component_params(frame, rid, role).get(k), v) for k, v in wanted.items())
                    for rid in rows["row_id"]]
            rows = rows[keep]
    if len(rows) == 0:
        raise ClaimDataMissing(f"no row with dataset_id={dataset_id!r}, model_id={model_id!r}, "
                               f"defense_id={defense_id!r}, defense_params={defense_params!r}")
    return rows


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, (int, float)) and isinstance(want, (int, float)) and not isinstance(have, bool):
        return math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12)
    return have == want


# --------------------------------------------------------------------------- evidence

def _nonempty(rows: Any) -> Any:
    if len(rows) == 0:
        raise ClaimDataMissing("no rows to compare")
    return rows


def accuracy_counts(frame: Any, column: str, **labels: Any) -> tuple[int, int]:
    """(correct, n) of accuracy ``column`` summed over the rows matching ``labels`` (all rows of
    ``frame`` when none are given), from ``frame.attrs["counts"]`` (:func:`bench.rows.frame.to_frame`).
    Several rows (seeds) are pooled: their examples counted together."""
    rows = select(frame, **labels) if labels else _nonempty(frame)
    counts = rows.attrs.get("counts")
    if counts is None:
        raise ClaimDataMissing("this frame carries no accuracy counts; build it with bench.rows.frame.to_frame")
    k = n = 0
    for rid in rows["row_id"]:
        found = counts.get(rid, {}).get(column)
        if found is None:
            raise ClaimDataMissing(f"no count of {column!r} for row {rid!r} (not an accuracy, or its cell failed)")
        k, n = k + int(found[0]), n + int(found[1])
    return k, n


def has_counts(frame: Any, column: str) -> bool:
    """Whether ``column`` is an accuracy with counts in ``frame`` (clean, robust or worst-case)."""
    return any(column in per_row for per_row in frame.attrs.get("counts", {}).values())


def seed_values(frame: Any, column: str, **labels: Any) -> dict[int, float]:
    """Seed -> the mean of ``column`` over that seed's rows matching ``labels`` (all rows when none are
    given); seeds whose values are all missing are left out, and none left is :class:`ClaimDataMissing`."""
    rows = select(frame, **labels) if labels else _nonempty(frame)
    if column not in rows.columns:
        raise ClaimDataMissing(f"results have no column {column!r}")
    if "seed" not in rows.columns:
        raise ClaimDataMissing("results have no column 'seed'")
    per_seed: dict[int, list[float]] = {}
    for seed, v in zip(rows["seed"], rows[column]):
        if v is not None and not math.isnan(float(v)):
            per_seed.setdefault(int(seed), []).append(float(v))
    if not per_seed:
        raise ClaimDataMissing(f"column {column!r} is empty for these rows")
    return {seed: math.fsum(vs) / len(vs) for seed, vs in sorted(per_seed.items())}


def _mean(values: Mapping[int, float]) -> float:
    return math.fsum(values.values()) / len(values)


# --------------------------------------------------------------------------- decisions

SEED_TEST = "paired t-test over seeds, one-sided"


def compare_seed_values(a: Mapping[int, float], b: Mapping[int, float], direction: str = "greater",
                        level: float = DEFAULT_LEVEL, what: str = "the metric") -> Decision:
    """Decide "``a`` > ``b``" (``direction="greater"``) or "<" for per-seed values (seed -> value) of a
    quantity without counts: the one-sided paired t-test over the seeds both have, when they share at
    least two; otherwise INCONCLUSIVE ("one seed: no sampling distribution for ``what``")."""
    common = sorted(set(a) & set(b))
    if len(common) >= 2:
        decision = compare_seeds([a[s] for s in common], [b[s] for s in common], direction, level)
        return Decision(decision.verdict, decision.test, decision.statistic, decision.p_value, decision.level,
                        f"{what}: {_mean(a):.4g} vs {_mean(b):.4g}; {decision.detail}", decision.p_reverse)
    shown = f"{_mean(a):.4g} vs {_mean(b):.4g}"
    if len(common) == 1 and len(a) == 1 and len(b) == 1:
        reason = f"one seed: no sampling distribution for {what} ({shown})"
    else:
        reason = (f"{len(common)} seed(s) in common ({sorted(a)} vs {sorted(b)}): no sampling distribution "
                  f"for {what} ({shown})")
    return inconclusive(SEED_TEST, reason, level, statistic=_mean(a) - _mean(b))


def compare_metrics(a: Any, b: Any, column: str, direction: str = "greater", level: float = DEFAULT_LEVEL,
                    what: Optional[str] = None) -> Decision:
    """Decide "``column`` of rows ``a`` > (or <) that of rows ``b``" for a probe or task metric (no
    counts): :func:`compare_seed_values` on their per-seed values."""
    return compare_seed_values(seed_values(a, column), seed_values(b, column), direction, level, what or column)


def _accuracy_by_seed(rows: Any, column: str, given: Optional[str]) -> dict[int, float]:
    values = seed_values(rows, column)
    if given is None:
        return values
    base = seed_values(rows, given)
    return {s: values[s] / base[s] for s in values if s in base and base[s] > 0}


def compare_accuracies(a: Any, b: Any, column: str, direction: str = "greater", level: float = DEFAULT_LEVEL,
                       given: Optional[str] = None) -> Decision:
    """Decide "accuracy ``column`` of rows ``a`` > (or <) that of rows ``b``".

    Both sides with at least two seeds in common: one-sided paired t-test over those seeds.
    Otherwise one-sided Fisher's exact test on the counts, each side's rows pooled (the rows count
    as independent samples; evaluated on the same examples they are positively correlated, which
    makes the test conservative). ``given``: an accuracy ``column`` is nested in (e.g. ``"clean"``
    for a robust accuracy, whose robust-correct examples are clean-correct): the accuracy among the
    examples correct under ``given``, ``k_column / k_given``.
    """
    sa, sb = _accuracy_by_seed(a, column, given), _accuracy_by_seed(b, column, given)
    what = column if given is None else f"{column} / {given}"
    if len(set(sa) & set(sb)) >= 2:
        return compare_seed_values(sa, sb, direction, level, what)
    ka, na = accuracy_counts(a, column)
    kb, nb = accuracy_counts(b, column)
    if given is not None:
        na, nb = accuracy_counts(a, given)[0], accuracy_counts(b, given)[0]
    decision = compare_proportions(ka, na, kb, nb, direction, level)
    return Decision(decision.verdict, decision.test, decision.statistic, decision.p_value, decision.level,
                    f"{what}: {decision.detail}", decision.p_reverse, decision.interval)


def compare_nested_accuracies(rows: Any, inner: str, outer: str, level: float = DEFAULT_LEVEL) -> Decision:
    """Decide "accuracy ``outer`` > accuracy ``inner``" for the same rows when every example correct
    under ``inner`` is correct under ``outer`` (a robust accuracy and the clean one; a worst case and
    one of its attacks): the paired table is known from the counts alone (``b01 = 0``), so this is
    the one-sided exact McNemar test (rows pooled)."""
    k_out, n = accuracy_counts(rows, outer)
    k_in, n_in = accuracy_counts(rows, inner)
    if n_in != n or k_in > k_out:
        raise RobarenaError(f"{inner!r} ({k_in}/{n_in}) is not nested in {outer!r} ({k_out}/{n}): "
                            f"compare_nested_accuracies needs the same examples and inner-correct => outer-correct")
    table = mcnemar_counts(0, k_out - k_in, n11=k_in, n00=n - k_out)
    decision = compare_proportions(k_out, n, k_in, n, "greater", level, paired=table)
    return Decision(decision.verdict, decision.test, decision.statistic, decision.p_value, decision.level,
                    f"{outer} vs {inner}: {decision.detail}", decision.p_reverse, decision.interval)


def compare_rows(a: Any, b: Any, column: str, direction: str = "greater", level: float = DEFAULT_LEVEL,
                 given: Optional[str] = None, what: Optional[str] = None) -> Decision:
    """:func:`compare_accuracies` for an accuracy column with counts, :func:`compare_metrics` otherwise."""
    if has_counts(a, column) and has_counts(b, column):
        return compare_accuracies(a, b, column, direction, level, given)
    if given is not None:
        raise ClaimDataMissing(f"no counts of {column!r} to compare it given {given!r}")
    return compare_metrics(a, b, column, direction, level, what)


def trend(points: Sequence[tuple[str, Any]], column: str, direction: str, level: float = DEFAULT_LEVEL,
          given: Optional[str] = None) -> tuple[Decision, dict[str, Decision]]:
    """Decide "``column`` moves ``direction`` (``"up"`` or ``"down"``) along ``points``" (``(name, rows)``
    in sweep order): each consecutive step tested one-sided at ``level`` (:func:`compare_rows`) and
    combined by :func:`bench.api.claim_stats.every`: holds when every step holds, does not hold when a
    step is significant the other way at ``level / steps``. Returns the decision and the steps'."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    if len(points) < 2:
        raise ClaimDataMissing(f"a trend needs at least two points, got {[name for name, _ in points]}")
    side = "greater" if direction == "up" else "less"
    steps = {f"{a} -> {b}": compare_rows(b_rows, a_rows, column, side, level, given)
             for (a, a_rows), (b, b_rows) in zip(points, points[1:])}
    return every(steps, level), steps


def accuracy_noninferior(a: Any, b: Any, column: str, margin: float, level: float = DEFAULT_LEVEL) -> Decision:
    """Decide "accuracy ``column`` of ``a`` is at least that of ``b`` minus ``margin``": Newcombe's
    interval on the counts (:func:`bench.api.claim_stats.noninferiority`), or with at least two seeds
    in common the one-sided paired t-test of ``a`` against ``b - margin``."""
    sa, sb = seed_values(a, column), seed_values(b, column)
    if len(set(sa) & set(sb)) >= 2:
        return compare_seed_values(sa, {s: v - margin for s, v in sb.items()}, "greater", level,
                                   f"{column} vs the other's minus {margin:g}")
    ka, na = accuracy_counts(a, column)
    kb, nb = accuracy_counts(b, column)
    return noninferiority(ka, na, kb, nb, margin, level)


def accuracy_vs_reference(rows: Any, column: str, paper_value: float, tolerance: float,
                          level: float = DEFAULT_LEVEL) -> Decision:
    """Decide "accuracy ``column`` of ``rows`` reproduces a paper's ``paper_value`` within ± ``tolerance``"
    (fractions): the ``1 - 2 * level`` Clopper-Pearson interval of the pooled counts inside the band
    (TOST, :func:`bench.api.claim_stats.reference`)."""
    k, n = accuracy_counts(rows, column)
    decision = reference(k, n, paper_value, tolerance, level)
    return Decision(decision.verdict, decision.test, decision.statistic, decision.p_value, decision.level,
                    f"{column}: {decision.detail}", decision.p_reverse, decision.interval)


def metric_bound(rows: Any, column: str, limit: float, direction: str = "less", level: float = DEFAULT_LEVEL,
                 what: Optional[str] = None) -> Decision:
    """Decide "``column`` is below (or above) ``limit``", a bound the claim states
    (:func:`bench.api.claim_stats.bound`: a t-test over seeds, or the one measured value against the bound)."""
    return bound(list(seed_values(rows, column).values()), limit, direction, level, what or column)


def mean_accuracies(a: Any, b: Any, columns: Sequence[str], direction: str = "greater",
                    level: float = DEFAULT_LEVEL, what: str = "mean accuracy") -> Decision:
    """Decide "the mean of accuracies ``columns`` of rows ``a`` > (or <) that of rows ``b``" (e.g. a
    robustness profile over eps): paired t-test over seeds on the per-seed means when both sides
    share two seeds, else the z-test of :func:`bench.api.claim_stats.compare_mean_accuracies`."""
    if not columns:
        raise ClaimDataMissing("no accuracy columns to average")

    def per_seed(rows: Any) -> dict[int, float]:
        values = [seed_values(rows, c) for c in columns]
        seeds = set.intersection(*(set(v) for v in values))
        return {s: math.fsum(v[s] for v in values) / len(values) for s in sorted(seeds)}

    sa, sb = per_seed(a), per_seed(b)
    if len(set(sa) & set(sb)) >= 2:
        return compare_seed_values(sa, sb, direction, level, what)
    return compare_mean_accuracies([accuracy_counts(a, c) for c in columns], [accuracy_counts(b, c) for c in columns],
                                   direction, level, what)


__all__ = [
    "ClaimDataMissing", "ClaimResult", "DEFAULT_LEVEL", "NOT_CHECKED", "Decision", "Verdict",
    "select", "value", "optional_value", "robust_columns", "robust_column", "worst_case_column", "metric_column",
    "component_params", "select_where",
    "accuracy_counts", "has_counts", "seed_values",
    "compare_seed_values", "compare_metrics", "compare_accuracies", "compare_nested_accuracies", "compare_rows",
    "trend", "accuracy_noninferior", "accuracy_vs_reference", "metric_bound", "mean_accuracies",
    "every", "some", "spearman_trend", "inconclusive", "bound", "noninferiority", "reference",
    "compare_mean_accuracies",
]
