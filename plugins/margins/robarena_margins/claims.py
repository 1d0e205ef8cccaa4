"""P1's qualitative claims as checks over a suite's leaderboard frame (``robarena claims p1-cpu``).

The checks read the AR-strength sweep from the rows' defense ids and parameters, never from their
labels: ``classics/standard`` is strength 0 and a :class:`Family` is the models trained by one
defense id (``classics/pgd-at``, ``classics/fast-at``, or ``margins/spectral-clip`` with
``base = "pgd-at"`` at one spectral-norm ``bound``); each distinct parameter set of the family is
one point of the sweep, at strength = its ``eps`` parameter (the training radius). Only the order
of the strengths matters. Columns are found by component id and column name
(:func:`bench.api.claim.metric_column`, :func:`bench.api.claim.robust_column`). Every
(dataset, model) configuration of the frame is checked on its own and a claim holds when it holds
for all of them; labels only name the numbers. Values are means over seeds
(:func:`bench.api.claim.value`).

Verdicts (level :data:`LEVEL` = 0.05): a "trend" tests every step between two consecutive strengths
one-sided (:func:`bench.api.claim.trend`): an accuracy by Fisher's exact test on its counts, a probe
metric by the paired t-test over seeds (one seed: no sampling distribution, inconclusive). It holds
when every step of every configuration holds (intersection-union) and does not hold when a step is
significant the other way after Bonferroni over all the claim's steps. Comparisons of two points
(strongest AR vs each weaker one, spectral clip vs plain PGD-AT) are combined the same way
(:func:`bench.api.claim_stats.every`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Union

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, Decision, compare_rows, compare_seed_values,
                             component_params, every, metric_column, robust_column, seed_values, trend as step_trend,
                             value)
from bench.threat import parse_eps
from robarena_margins.std_difference import STD_PREFIX, accumulated_std_difference

STANDARD_ID = "classics/standard"
PGD_AT_ID = "classics/pgd-at"
FAST_AT_ID = "classics/fast-at"
#: P1 B.6's FGSM training (PGD-AT with one FGSM step from x); classics/fast-at is Wong et al.'s, not P1's
FGSM_AT_ID = "margins/fgsm-at"
SPECTRAL_CLIP_ID = "margins/spectral-clip"
PGD_ID = "classics/pgd"
LAYER_SPECTRUM_ID = "margins/layer-spectrum"
LOSS_VARIATION_ID = "margins/loss-variation"
#: the significance level of every P1 claim
LEVEL = DEFAULT_LEVEL

#: a metric column: ``"clean"``, or (probe id, probe column)
Metric = Union[str, tuple[str, str]]
GAP: Metric = ("classics/generalization", "loss_gap")
TRAIN_LOSS: Metric = ("classics/generalization", "train_loss")
MARGIN: Metric = ("classics/margin", "mean")
P_Y: Metric = ("margins/confidence", "mean_p_y")
P_Y_MIDDLE: Metric = ("margins/confidence", "frac_middle")
ERROR_GAP: Metric = ("classics/generalization", "error_gap")
MARGIN_STD: Metric = ("margins/margin-spread", "std")
MARGIN_IQR: Metric = ("margins/margin-spread", "iqr")
#: P1 B.2 (ResNet-56, AR 4 -> 16): accumulated per-layer singular-value STD (decrease, increase)
P1_SV_STD_DIFFERENCES = {"CIFAR-10": (4.7465, 0.4372), "CIFAR-100": (3.7511, 0.4372)}
#: "a magnitude larger" (P1 B.2; its ratios are 10.9 and 8.6): the decrease must exceed the increase
#: by this factor, an order of magnitude with a tolerance of half an order (10 ** 0.5 = 3.16)
SV_STD_RATIO = 10 ** 0.5


@dataclass(frozen=True)
class Family:
    """The models trained by defense ``defense_id`` with parameters ``params`` (a subset): one sweep."""

    name: str
    defense_id: str
    params: tuple[tuple[str, Any], ...] = field(default=())

    def includes(self, defense_id: str, params: dict[str, Any]) -> bool:
        return defense_id == self.defense_id and all(_same(params.get(k), v) for k, v in self.params)


PGD_AT = Family("PGD-AT", PGD_AT_ID)
FGSM_AT = Family("FGSM-AT", FGSM_AT_ID)


def spectral_family(bound: float) -> Family:
    """PGD-AT with every layer's spectral norm clipped to ``bound`` (``margins/spectral-clip``)."""
    return Family(f"SN-{bound:g} PGD-AT", SPECTRAL_CLIP_ID, (("base", "pgd-at"), ("bound", float(bound))))


@dataclass(frozen=True)
class Point:
    """One defense configuration of a group: its strength, a display name (its label), its
    parameters (canonical JSON, which orders points of equal strength) and its rows."""

    strength: float
    name: str
    params: str
    rows: Any = field(compare=False)


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, (int, float)) and isinstance(want, (int, float)) and not isinstance(have, bool):
        return math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12)
    return have == want


def _key(frame: Any, row_id: str, role: str) -> str:
    return json.dumps(component_params(frame, row_id, role), sort_keys=True, default=str)


def column(frame: Any, metric: Metric) -> str:
    """The frame column of ``metric`` (:class:`ClaimDataMissing` when absent)."""
    if isinstance(metric, str):
        if metric not in frame.columns:
            raise ClaimDataMissing(f"results have no column {metric!r}")
        return metric
    return metric_column(frame, *metric)


def groups(frame: Any) -> Iterator[tuple[str, Any]]:
    """(``"<dataset>/<model>"``, rows) for every dataset and model configuration (ids and parameters)."""
    for name in ("row_id", "dataset_id", "model_id", "defense_id"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
    if len(frame) == 0:
        raise ClaimDataMissing("the results have no rows")
    keys = [(d, _key(frame, r, "dataset"), m, _key(frame, r, "model"))
            for r, d, m in zip(frame["row_id"], frame["dataset_id"], frame["model_id"])]
    for key in sorted(set(keys)):
        rows = frame[[k == key for k in keys]]
        yield f"{rows['dataset'].iloc[0]}/{rows['model'].iloc[0]}", rows


def configurations(rows: Any) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(defense id, defense parameters, rows) for every defense configuration of ``rows``."""
    keys = [(d, _key(rows, r, "defense")) for r, d in zip(rows["row_id"], rows["defense_id"])]
    for key in sorted(set(keys)):
        picked = rows[[k == key for k in keys]]
        yield key[0], component_params(rows, picked["row_id"].iloc[0], "defense"), picked


def _point(strength: float, defense_id: str, params: dict[str, Any], rows: Any) -> Point:
    return Point(strength, str(rows["defense"].iloc[0]), defense_id + json.dumps(params, sort_keys=True, default=str),
                 rows)


def sweep(rows: Any, family: Family = PGD_AT, with_standard: bool = True) -> list[Point]:
    """The points of ``family`` sorted by strength (its ``eps`` parameter), after standard training
    (strength 0, if present and wanted). At least two strengths, else :class:`ClaimDataMissing`."""
    found = []
    for defense_id, params, picked in configurations(rows):
        if family.includes(defense_id, params) and isinstance(params.get("eps"), (int, float)):
            found.append(_point(float(params["eps"]), defense_id, params, picked))
        elif with_standard and defense_id == STANDARD_ID:
            found.append(_point(0.0, defense_id, params, picked))
    found.sort(key=lambda p: (p.strength, p.params))
    if len(found) < 2:
        raise ClaimDataMissing(f"need at least two AR strengths ({STANDARD_ID!r} rows or {family.name} rows: "
                               f"defense {family.defense_id!r} with parameters {dict(family.params)} and an eps), "
                               f"found {[p.name for p in found]}")
    return found


def strictly_monotone(values: list[float], direction: str) -> bool:
    """``direction`` "down": every value below the previous one; "up": above."""
    pairs = list(zip(values, values[1:]))
    return all(b < a for a, b in pairs) if direction == "down" else all(b > a for a, b in pairs)


def _name(group: str, label: str, several: bool) -> str:
    return f"{group}/{label}" if several else label


def trend_steps(frame: Any, metric: Metric, direction: str, family: Family = PGD_AT,
                with_standard: bool = True) -> tuple[dict[str, float], dict[str, Decision]]:
    """The values of ``metric`` along the sweep of every group (means over seeds) and the one-sided
    decision of every step (:func:`bench.api.claim.trend`), named ``[<group>/]<weaker> -> <stronger>``."""
    col = column(frame, metric)
    parts = list(groups(frame))
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for name, rows in parts:
        points = sweep(rows, family, with_standard)
        numbers.update({_name(name, p.name, len(parts) > 1): value(p.rows, col) for p in points})
        _, found = step_trend([(p.name, p.rows) for p in points], col, direction, LEVEL)
        steps.update({_name(name, step, len(parts) > 1): d for step, d in found.items()})
    return numbers, steps


def trend(frame: Any, metric: Metric, direction: str, family: Family = PGD_AT,
          with_standard: bool = True) -> ClaimResult:
    """Does ``metric`` move ``direction`` ("up"/"down") with AR strength at every step of every group?"""
    numbers, steps = trend_steps(frame, metric, direction, family, with_standard)
    word = "decreases" if direction == "down" else "increases"
    return ClaimResult.of(every(steps, LEVEL), numbers,
                          f"claim: {column(frame, metric)} {word} with {family.name} strength at every step")


def trend_claim(metric: Metric, direction: str, family: Family = PGD_AT) -> Callable[[Any], ClaimResult]:
    def check(frame: Any) -> ClaimResult:
        return trend(frame, metric, direction, family)
    check.__doc__ = f"{metric} moves {direction} with {family.name} strength (standard = 0), every step one-sided."
    return check


# ---------------------------------------------------------------- Sec. 5.1, Fig. 3, Tables 3-5; B.6 Table 2
loss_gap_shrinks = trend_claim(GAP, "down")
train_loss_grows = trend_claim(TRAIN_LOSS, "up")
test_accuracy_drops = trend_claim("clean", "down")
fgsm_at_loss_gap_shrinks = trend_claim(GAP, "down", family=FGSM_AT)
# ---------------------------------------------------------------- Sec. 5.2.1, Fig. 1b, 4, 5a
margins_concentrate = trend_claim(MARGIN, "down")
less_confident = trend_claim(P_Y, "down")
p_y_concentrates_middle = trend_claim(P_Y_MIDDLE, "up")


def strongest_ar_most_robust(frame: Any) -> ClaimResult:
    """The highest AR strength has the highest PGD accuracy on clean-correct points (P1 Fig. 1c, 11; D.2).

    P1 counts only clean-correct examples: its "PGD" accuracy is robust / clean, here the robust
    count among the clean-correct examples (robust-correct examples are clean-correct). The PGD
    column is the one untargeted ``classics/pgd`` robust-accuracy column of the frame. Each weaker
    strength is compared with the strongest one-sided (Fisher's exact test given the clean-correct
    examples, or the paired t-test over seeds), all combined by :func:`bench.api.claim_stats.every`.
    """
    pgd = robust_column(frame, PGD_ID)
    clean = column(frame, "clean")
    parts = list(groups(frame))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for name, rows in parts:
        points = sweep(rows)
        numbers.update({_name(name, p.name, len(parts) > 1): value(p.rows, pgd) / value(p.rows, clean)
                        for p in points})
        strongest = points[-1]
        for p in points[:-1]:
            comparisons[_name(name, f"{strongest.name} > {p.name}", len(parts) > 1)] = compare_rows(
                strongest.rows, p.rows, pgd, "greater", LEVEL, given=clean)
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "PGD accuracy on clean-correct points, strongest AR vs every weaker strength")


def layer_columns(frame: Any) -> dict[str, str]:
    """Layer name -> column of the layer-spectrum probe's per-layer STDs (its ``sv_std.<layer>`` columns)."""
    from bench.rows.frame import find_columns

    out = {}
    for name in find_columns(frame, "probe", id=LAYER_SPECTRUM_ID):
        info = next(i for i in frame.attrs["columns"] if i["column"] == name)
        if info["name"].startswith(STD_PREFIX):
            out[info["name"][len(STD_PREFIX):]] = name
    return out


def _layer_stds(rows: Any, name: str) -> dict[int, dict[str, float]]:
    """Seed -> per-layer STDs of ``rows`` (one defense configuration)."""
    per_layer = {layer: seed_values(rows, col) for layer, col in layer_columns(rows).items()
                 if any(v is not None and not math.isnan(float(v)) for v in rows[col])}
    if not per_layer:
        raise ClaimDataMissing(f"no per-layer STDs of {LAYER_SPECTRUM_ID!r} ({STD_PREFIX}<layer>) for {name!r}")
    seeds = sorted(set().union(*(set(v) for v in per_layer.values())))
    return {s: {layer: v[s] for layer, v in per_layer.items() if s in v} for s in seeds}


def _weak_to_strong_std_differences(name: str, rows: Any) -> tuple[dict, str, str]:
    """(seed -> the accumulated singular-value-STD differences (:func:`accumulated_std_difference`) from
    the weakest to the strongest PGD-AT model of one group, the two models' names); no seed with both is
    :class:`ClaimDataMissing`."""
    points = sweep(rows, with_standard=False)
    weak, strong = points[0], points[-1]
    weak_stds, strong_stds = _layer_stds(weak.rows, weak.name), _layer_stds(strong.rows, strong.name)
    diffs = {s: accumulated_std_difference(weak_stds[s], strong_stds[s])
             for s in sorted(set(weak_stds) & set(strong_stds))}
    if not diffs:
        raise ClaimDataMissing(f"no seed with both {weak.name!r} and {strong.name!r} for {name!r}")
    return diffs, weak.name, strong.name


def sv_std_shrinks(frame: Any) -> ClaimResult:
    """P1 B.2: from the weakest to the strongest PGD-AT model, the accumulated STD decrease over the
    layers whose singular-value STD dropped exceeds the accumulated increase over those where it rose.

    Per seed (the weakest and strongest models of one seed), paired t-test over seeds of the decrease
    against the increase, one-sided; one seed is inconclusive. Numbers: means over seeds."""
    parts = list(groups(frame))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for name, rows in parts:
        diffs, weak_name, strong_name = _weak_to_strong_std_differences(name, rows)
        prefix = f"{name}/" if len(parts) > 1 else ""
        for key in ("decrease_sum", "n_decrease", "increase_sum", "n_increase"):
            numbers[f"{prefix}{key}"] = math.fsum(getattr(d, key) for d in diffs.values()) / len(diffs)
        comparisons[name] = compare_seed_values({s: d.decrease_sum for s, d in diffs.items()},
                                                {s: d.increase_sum for s, d in diffs.items()}, "greater", LEVEL,
                                                f"accumulated STD decrease vs increase ({weak_name} -> {strong_name})")
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          "accumulated singular-value STD decrease vs increase, weakest -> strongest PGD-AT")


def variation_metrics(frame: Any) -> list[tuple[float, str, Metric]]:
    """(eps, eps as written, metric) of the loss-variation probe's ``mean@<eps>`` columns, by increasing eps.

    The radii are the probe's recorded ``eps`` parameter; the column of each is named as the probe
    names it (``mean@<eps as written>``). Radii without a column (a failed cell) are left out.
    """
    from bench.rows.frame import find_columns

    radii: dict[str, float] = {}
    for name in find_columns(frame, "probe", id=LOSS_VARIATION_ID):
        info = next(i for i in frame.attrs["columns"] if i["column"] == name)
        for eps in info.get("params", {}).get("eps") or []:
            number, shown = parse_eps(eps)
            radii.setdefault(shown, number)
    found = [(number, shown, (LOSS_VARIATION_ID, f"mean@{shown}")) for shown, number in radii.items()
             if find_columns(frame, "probe", id=LOSS_VARIATION_ID, name=f"mean@{shown}")]
    if not found:
        raise ClaimDataMissing(f"results have no mean@<eps> columns of {LOSS_VARIATION_ID!r}")
    return sorted(found)


def loss_variation_shrinks(frame: Any) -> ClaimResult:
    """P1 B.5, Table 1: at every perturbation radius the mean maximal loss variation decreases with AR
    (every step at every radius, one-sided, combined by :func:`bench.api.claim_stats.every`)."""
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for _, shown, metric in variation_metrics(frame):
        values, found = trend_steps(frame, metric, "down")
        numbers.update({f"{k} @{shown}": v for k, v in values.items()})
        steps.update({f"{k} @{shown}": d for k, d in found.items()})
    return ClaimResult.of(every(steps, LEVEL), numbers,
                          "claim: the mean maximal loss variation decreases with AR strength at every radius")


def _spectral_bound(defense_id: str, params: dict[str, Any]) -> Optional[float]:
    """The bound of a spectral-clip PGD-AT configuration (None for anything else, or no bound)."""
    if defense_id != SPECTRAL_CLIP_ID or params.get("base") != "pgd-at":
        return None
    bound = params.get("bound")
    return float(bound) if isinstance(bound, (int, float)) else None


def _plain_partner(rows: Any, clipped: dict[str, Any]) -> Optional[tuple[dict[str, Any], Any]]:
    """The one PGD-AT configuration of ``rows`` at the clipped model's norm and eps (ties: the one
    whose every PGD-AT parameter equals the clipped model's), or None."""
    found = [(params, picked) for defense_id, params, picked in configurations(rows)
             if defense_id == PGD_AT_ID and params.get("norm") == clipped.get("norm")
             and _same(params.get("eps"), clipped.get("eps"))]
    if len(found) > 1:
        found = [(p, picked) for p, picked in found if all(_same(clipped.get(k), v) for k, v in p.items())]
    return found[0] if len(found) == 1 else None


def spectral_clip_lowers_loss_gap(frame: Any) -> ClaimResult:
    """P1 B.4, Table 6: a spectral-norm bound (``margins/spectral-clip`` over PGD-AT) gives a smaller
    loss gap than PGD-AT (``classics/pgd-at``) at the same norm and eps without it, for every such pair
    (each pair one-sided, combined by :func:`bench.api.claim_stats.every`)."""
    return spectral_clip_lowers(frame, GAP, "loss gap")


def spectral_clip_lowers_error_gap(frame: Any) -> ClaimResult:
    """P1 B.4, Table 6 (Fig. 6a): a spectral-norm bound gives a smaller *error* gap than PGD-AT at the
    same eps without it (SP 1 vs uncontrolled: 6.44 vs 10.65, 5.51 vs 10.94, 4.76 vs 11.08 points at
    AR 4, 8, 16): capacity control removes the overfitting that AR alone does not (P1 B.3-B.4).
    Every pair one-sided (paired t-test over seeds; one seed: inconclusive), combined by ``every``."""
    return spectral_clip_lowers(frame, ERROR_GAP, "error gap")


def spectral_clip_lowers(frame: Any, metric: Metric, what: str) -> ClaimResult:
    """Every ``margins/spectral-clip`` (base pgd-at) configuration has a lower ``metric`` than the
    ``classics/pgd-at`` configuration at the same norm and eps, each pair one-sided at :data:`LEVEL`."""
    gap = column(frame, metric)
    parts = list(groups(frame))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for name, rows in parts:
        for defense_id, params, picked in configurations(rows):
            if _spectral_bound(defense_id, params) is None:
                continue
            partner = _plain_partner(rows, params)
            if partner is None:
                continue
            label, plain_label = str(picked["defense"].iloc[0]), str(partner[1]["defense"].iloc[0])
            numbers[_name(name, label, len(parts) > 1)] = value(picked, gap)
            numbers[_name(name, plain_label, len(parts) > 1)] = value(partner[1], gap)
            comparisons[_name(name, f"{label} < {plain_label}", len(parts) > 1)] = compare_rows(
                picked, partner[1], gap, "less", LEVEL)
    if not comparisons:
        raise ClaimDataMissing(f"no {SPECTRAL_CLIP_ID!r} (base pgd-at) row with a {PGD_AT_ID!r} row at the same eps")
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          f"claim: every spectral-norm bound lowers the {what} of PGD-AT at the same eps")


def loss_gap_shrinks_at_every_bound(frame: Any) -> ClaimResult:
    """P1 B.4, Table 6: at every spectral-norm bound (``margins/spectral-clip`` over PGD-AT) and
    without one (``classics/pgd-at``), the loss gap decreases as the PGD-AT eps grows (every step of
    every bound one-sided, combined by :func:`bench.api.claim_stats.every`)."""
    bounds = set()
    if "defense_id" in frame.columns and "row_id" in frame.columns:
        for rid, defense_id in zip(frame["row_id"], frame["defense_id"]):
            bound = _spectral_bound(defense_id, component_params(frame, rid, "defense"))
            if bound is not None:
                bounds.add(bound)
    if not bounds:
        raise ClaimDataMissing(f"no {SPECTRAL_CLIP_ID!r} rows over PGD-AT with a spectral-norm bound")
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for family in [spectral_family(b) for b in sorted(bounds)] + [PGD_AT]:
        values, found = trend_steps(frame, GAP, "down", family, with_standard=False)
        numbers.update(values)
        steps.update({f"{family.name}: {k}": d for k, d in found.items()})
    return ClaimResult.of(every(steps, LEVEL), numbers, "claim: the loss gap decreases with eps at every bound")


# ---------------------------------------------------------------- round two (issue 16): spread, magnitude, error gap
def margin_spread_shrinks(frame: Any) -> ClaimResult:
    """P1 Fig. 1b, 4: the test margin distribution *concentrates* with AR: both its standard deviation
    and its interquartile range (``margins/margin-spread``) decrease at every step of the sweep
    (standard = 0, then PGD-AT by eps). Each step of each statistic one-sided, paired t-test over
    seeds (one seed: inconclusive), combined by :func:`bench.api.claim_stats.every`."""
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for what, metric in (("std", MARGIN_STD), ("iqr", MARGIN_IQR)):
        values, found = trend_steps(frame, metric, "down")
        numbers.update({f"{what} {k}": v for k, v in values.items()})
        steps.update({f"{what} {k}": d for k, d in found.items()})
    return ClaimResult.of(every(steps, LEVEL), numbers,
                          "claim: the STD and the IQR of the test margins decrease with AR strength at every step")


def sv_std_decrease_order_larger(frame: Any) -> ClaimResult:
    """P1 B.2 at the paper's magnitude: from the weakest to the strongest PGD-AT model the accumulated
    STD decrease exceeds the accumulated increase by an order of magnitude (P1: 4.7465 vs 0.4372 on
    CIFAR-10, 3.7511 vs 0.4372 on CIFAR-100, :data:`P1_SV_STD_DIFFERENCES`; ratios 10.9 and 8.6).
    Tolerance: half an order of magnitude, i.e. decrease > :data:`SV_STD_RATIO` (= 10 ** 0.5) x increase.
    Per seed, paired t-test over seeds of the decrease against 10 ** 0.5 x the increase, one-sided
    (one seed: inconclusive); groups combined by :func:`bench.api.claim_stats.every`."""
    parts = list(groups(frame))
    numbers: dict[str, float] = {}
    comparisons: dict[str, Decision] = {}
    for name, rows in parts:
        diffs, weak_name, strong_name = _weak_to_strong_std_differences(name, rows)
        prefix = f"{name}/" if len(parts) > 1 else ""
        decrease = math.fsum(d.decrease_sum for d in diffs.values()) / len(diffs)
        increase = math.fsum(d.increase_sum for d in diffs.values()) / len(diffs)
        numbers[f"{prefix}decrease_sum"] = decrease
        numbers[f"{prefix}increase_sum"] = increase
        if increase > 0:  # no ratio when no layer's STD rose (it would be infinite)
            numbers[f"{prefix}ratio"] = decrease / increase
        comparisons[name] = compare_seed_values(
            {s: d.decrease_sum for s, d in diffs.items()},
            {s: SV_STD_RATIO * d.increase_sum for s, d in diffs.items()}, "greater", LEVEL,
            f"accumulated STD decrease vs {SV_STD_RATIO:.3g} x increase ({weak_name} -> {strong_name})")
    return ClaimResult.of(every(comparisons, LEVEL), numbers,
                          f"accumulated singular-value STD decrease > {SV_STD_RATIO:.3g} x the increase, "
                          "weakest -> strongest PGD-AT")


def error_gap_trend(frame: Any, family: Family, direction: str, with_standard: bool,
                    dataset_id: Optional[str] = None) -> tuple[dict[str, float], dict[str, Decision]]:
    """:func:`trend_steps` of the error gap over the groups of ``frame`` (only those on ``dataset_id``,
    found by the rows' dataset id, when given)."""
    if dataset_id is not None:
        if "dataset_id" not in frame.columns:
            raise ClaimDataMissing("results have no column 'dataset_id'")
        frame = frame[frame["dataset_id"] == dataset_id]
        if len(frame) == 0:
            raise ClaimDataMissing(f"no rows on dataset {dataset_id!r}")
    values, steps = trend_steps(frame, ERROR_GAP, direction, family, with_standard)
    return values, steps


def error_gap_shrinks(frame: Any) -> ClaimResult:
    """P1 Sec. 5.1, Table 5 (Tiny-ImageNet, AR 0, 4, 8, 16: error gap 15.69, 11.62, 5.08, 3.37 points):
    where the network cannot overfit the task the error gap falls with AR, like the loss gap. Every
    step one-sided (paired t-test over seeds; one seed: inconclusive), combined by ``every``."""
    numbers, steps = error_gap_trend(frame, PGD_AT, "down", with_standard=True)
    return ClaimResult.of(every(steps, LEVEL), numbers, "claim: the error gap decreases with AR strength at every step")


def error_gap_shrinks_at_bound_1(frame: Any) -> ClaimResult:
    """P1 B.4, Table 6, Fig. 6a: with every layer's spectral norm clipped to 1 the error gap falls with
    the PGD-AT eps (6.44, 5.51, 4.76 points at AR 4, 8, 16), while uncontrolled it does not (10.65, 10.94,
    11.08): "the error gap gradually changes from an increasing trend to a decreasing trend" as the
    capacity falls. Tests the bound-1 sweep; every step one-sided (paired t-test over seeds), ``every``."""
    numbers, steps = error_gap_trend(frame, spectral_family(1.0), "down", with_standard=False)
    return ClaimResult.of(every(steps, LEVEL), numbers,
                          "claim: at spectral-norm bound 1 the error gap decreases with PGD-AT eps at every step")


CIFAR10_ID = "core/cifar10"
CIFAR100_ID = "core/cifar100"


def error_gap_cifar100_down_cifar10_up(frame: Any) -> ClaimResult:
    """P1 Sec. 5.1, Fig. 3a, B.3 (Tables 3-4, AR 4 -> 8 -> 16): the error gap falls with AR on CIFAR-100
    (ResNet-56: 27.42, 26.10, 22.74) but rises on CIFAR-10 (10.65, 10.94, 11.08), where the ResNets have
    the capacity to overfit the training set; the loss gap falls on both. Datasets are found by id
    (``core/cifar100``, ``core/cifar10``); the PGD-AT sweep without the standard rows (P1's tables have
    none). Every step of every (dataset, model) one-sided (paired t-test over seeds), ``every``."""
    numbers: dict[str, float] = {}
    steps: dict[str, Decision] = {}
    for dataset_id, direction in ((CIFAR100_ID, "down"), (CIFAR10_ID, "up")):
        values, found = error_gap_trend(frame, PGD_AT, direction, False, dataset_id)
        numbers.update({f"{dataset_id}: {k}": v for k, v in values.items()})
        steps.update({f"{dataset_id} ({direction}): {k}": d for k, d in found.items()})
    return ClaimResult.of(every(steps, LEVEL), numbers,
                          "claim: the error gap decreases with PGD-AT eps on CIFAR-100 and increases on CIFAR-10")
