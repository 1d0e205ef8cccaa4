"""P3's qualitative claims as checks over the leaderboard frame of ``p3-cpu`` (or ``p3-full``).

Rows are found by their defense labels as the P3 suites name them (``standard``, ``pgd-at``,
``trades-b6``, ``trades-b10000``, ``fast-at``) or, for the smoothness regularizers, by defense id
(``recognizability/gradient-penalty``, ``recognizability/fisher-penalty``), so every beta the
suite trains is checked. Comparisons are made within each dataset (means over seeds) and a claim
holds only if it holds on every dataset. Columns used:

* ``task[recognizability.judge_target_rate]`` (and ``.target_success``): the recognizability proxy;
* ``probe[jacobian.jacobian_fro]``, ``probe[jacobian.output_spread]`` (and ``.top_class_share``);
* ``robust[profile Linf <eps>]``: the robust-accuracy profile (P3 Fig. 4.1); a model's
  robustness is its mean robust accuracy over the profile's eps > 0 (the area under the profile
  divided by its number of points).

Thresholds: a classifier counts as (nearly) constant when its mean total-variation distance
between outputs and the mean output (``output_spread``) is below :data:`CONSTANT_SPREAD`.
"""
from __future__ import annotations

import re
from typing import Any

from bench.api.claim import ClaimDataMissing, ClaimResult, optional_value, value
from bench.threat import parse_eps

#: output_spread below which a classifier is called (nearly) constant: within 5 % total variation
#: of one fixed output distribution on average (standard training: about 0.9 on digits).
CONSTANT_SPREAD = 0.05
RECOGNIZED = "task[recognizability.judge_target_rate]"
SUCCESS = "task[recognizability.target_success]"
CONTEXT = ("task[recognizability.start_correlation]", "task[recognizability.class_consistency]")
JACOBIAN = "probe[jacobian.jacobian_fro]"
SPREAD = "probe[jacobian.output_spread]"
TOP_SHARE = "probe[jacobian.top_class_share]"
PROFILE = re.compile(r"^robust\[profile Linf (?P<eps>[^\]]+)\]$")
MINIMAX = ("pgd-at", "trades-b6", "fast-at")
SMOOTHNESS_IDS = ("recognizability/gradient-penalty", "recognizability/fisher-penalty")


def datasets(frame: Any) -> list[str]:
    """The dataset labels of the frame (a claim is checked on each)."""
    if "dataset" not in frame.columns or len(frame) == 0:
        raise ClaimDataMissing("results have no rows")
    return sorted(set(frame["dataset"]))


def profile_columns(frame: Any) -> list[tuple[float, str]]:
    """(eps, column) of the robust-accuracy profile with eps > 0, sorted by eps."""
    cols = [(parse_eps(m.group("eps"))[0], c) for c in frame.columns if (m := PROFILE.match(c))]
    cols = sorted((eps, c) for eps, c in cols if eps > 0)
    if not cols:
        raise ClaimDataMissing("results have no 'robust[profile Linf <eps>]' columns with eps > 0")
    return cols


def profile_mean(frame: Any, **labels: Any) -> float:
    """Mean robust accuracy over the profile's eps > 0 for the rows matching ``labels``."""
    return sum(value(frame, c, **labels) for _, c in profile_columns(frame)) / len(profile_columns(frame))


def _tag(dataset: str, many: bool) -> str:
    return f"{dataset}:" if many else ""


def robust_perturbations_recognized(frame: Any) -> ClaimResult:
    """PGD-AT's targeted unbounded perturbations are judged as the target class more often than
    the standard model's (P3 Fig. 1.1, 4.2; ``judge_target_rate``)."""
    names = datasets(frame)
    numbers, holds = {}, True
    for ds in names:
        t = _tag(ds, len(names) > 1)
        robust, standard = value(frame, RECOGNIZED, dataset=ds, defense="pgd-at"), \
            value(frame, RECOGNIZED, dataset=ds, defense="standard")
        numbers.update({f"{t}pgd-at": robust, f"{t}standard": standard,
                        f"{t}pgd-at_success": value(frame, SUCCESS, dataset=ds, defense="pgd-at"),
                        f"{t}standard_success": value(frame, SUCCESS, dataset=ds, defense="standard")})
        holds &= robust > standard
        for col in CONTEXT:  # judge-free context; not part of the verdict
            for label in ("pgd-at", "standard"):
                context = optional_value(frame, col, dataset=ds, defense=label)
                if context is not None:
                    numbers[f"{t}{label}_{col[len('task[recognizability.'):-1]}"] = context
    return ClaimResult(holds, numbers, "judge_target_rate (independent standard judge) of PGD-AT vs standard; "
                                       "*_success: the attacked model's own target success; start_correlation and "
                                       "class_consistency shown for context")


def adversarial_training_lowers_jacobian(frame: Any) -> ClaimResult:
    """Every minimax defense present (PGD-AT, TRADES beta 6, fast-AT; PGD-AT required) has a smaller
    ``||J||_F`` than standard training (P3 Sec. 3, Prop. 3.1)."""
    names = datasets(frame)
    numbers, holds, checked = {}, True, []
    for ds in names:
        t = _tag(ds, len(names) > 1)
        standard = value(frame, JACOBIAN, dataset=ds, defense="standard")
        numbers[f"{t}standard"] = standard
        for label in MINIMAX:
            try:
                jac = value(frame, JACOBIAN, dataset=ds, defense=label)
            except ClaimDataMissing:
                if label == "pgd-at":
                    raise
                continue
            numbers[f"{t}{label}"] = jac
            checked.append(label)
            holds &= jac < standard
    return ClaimResult(holds, numbers, f"probe[jacobian.jacobian_fro] of {sorted(set(checked))} vs standard")


def trades_high_beta_constant(frame: Any) -> ClaimResult:
    """TRADES with beta = 10000 collapses to a (nearly) constant classifier (P3 Sec. 4.2):
    ``output_spread`` below :data:`CONSTANT_SPREAD`."""
    names = datasets(frame)
    numbers, holds = {}, True
    for ds in names:
        t = _tag(ds, len(names) > 1)
        spread = value(frame, SPREAD, dataset=ds, defense="trades-b10000")
        numbers.update({f"{t}trades-b10000_spread": spread,
                        f"{t}standard_spread": value(frame, SPREAD, dataset=ds, defense="standard"),
                        f"{t}trades-b10000_top_class_share": value(frame, TOP_SHARE, dataset=ds,
                                                                    defense="trades-b10000"),
                        f"{t}trades-b10000_clean": value(frame, "clean", dataset=ds, defense="trades-b10000")})
        holds &= spread < CONSTANT_SPREAD
    return ClaimResult(holds, numbers, f"output_spread < {CONSTANT_SPREAD} (mean TV distance to the mean output); "
                                       "top_class_share: share of the most predicted class")


def smoothness_regularizers_robust(frame: Any) -> ClaimResult:
    """Gradient- and Fisher-penalty models are more robust than standard training (P3 Fig. 4.1):
    each one's mean profile accuracy (eps > 0) exceeds the standard model's.

    Models that collapsed to a constant classifier (``output_spread`` < :data:`CONSTANT_SPREAD`)
    are left out and named in the detail, as P3 leaves its collapsed TRADES model out of Fig. 4.1;
    the claim does not hold if either penalty has no model left.
    """
    names = datasets(frame)
    numbers, holds, dropped = {}, True, []
    for ds in names:
        t = _tag(ds, len(names) > 1)
        standard = profile_mean(frame, dataset=ds, defense="standard")
        numbers[f"{t}standard"] = standard
        for ident in SMOOTHNESS_IDS:
            rows = frame[(frame["dataset"] == ds) & (frame["defense_id"] == ident)]
            if len(rows) == 0:
                raise ClaimDataMissing(f"no {ident} row for dataset {ds!r}")
            kept = 0
            for label in sorted(set(rows["defense"])):
                spread = value(frame, SPREAD, dataset=ds, defense=label)
                acc = profile_mean(frame, dataset=ds, defense=label)
                if spread < CONSTANT_SPREAD:
                    dropped.append(f"{t}{label} (constant classifier: spread {spread:.4f}, profile mean {acc:.3f})")
                    continue
                numbers[f"{t}{label}"] = acc
                kept += 1
                holds &= acc > standard
            if kept == 0:
                holds = False
                dropped.append(f"{t}no usable {ident} model")
    detail = "mean robust accuracy over the profile's eps > 0"
    if dropped:
        detail += "; left out: " + "; ".join(dropped)
    return ClaimResult(holds, numbers, detail)

