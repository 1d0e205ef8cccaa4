"""P2's transfer claims as checks over a suite's leaderboard frame (``robarena claims p2-cpu``).

Rows are told apart by their defense label: ``standard`` (ordinary training) and ``PGD-AT`` (the
robust source P2 transfers from, L2 eps 1 in P2); both are the p2 suites' labels. The task's
columns are ``task[transfer.<target>.accuracy]``, ``.distance`` and ``.robust_accuracy``; every
target found in the frame is used. Cross-row quantities computed here:

* ``gap[t] = accuracy_PGD-AT[t] - accuracy_standard[t]``, the robust-minus-standard transfer
  accuracy (P2 Table 1, Fig. 3 and 7);
* the distance of target t is the EMD measured in the *standard* model's features (the ordinary
  feature extractor, as Cui et al. embed datasets with one standard network); the robust row's
  own distances are reported alongside.
"""
from __future__ import annotations

import re

from scipy.stats import spearmanr

from bench.api.claim import ClaimDataMissing, ClaimResult, value

TASK = "transfer"
ROBUST = "PGD-AT"
STANDARD = "standard"


def targets(frame, task: str = TASK) -> list[str]:
    """Target labels with an accuracy column, in column order."""
    pattern = re.compile(rf"^task\[{re.escape(task)}\.(.+)\.accuracy\]$")
    found = [m.group(1) for c in frame.columns if (m := pattern.match(c))]
    if not found:
        raise ClaimDataMissing(f"no task[{task}.<target>.accuracy] column; run a suite with the transfer task")
    return found


def column(target: str, metric: str, task: str = TASK) -> str:
    return f"task[{task}.{target}.{metric}]"


def gaps_and_distances(frame) -> dict[str, tuple[float, float]]:
    """target -> (robust-minus-standard accuracy gap, distance in the standard model's features)."""
    out = {}
    for t in targets(frame):
        accuracy = column(t, "accuracy")
        gap = value(frame, accuracy, defense=ROBUST) - value(frame, accuracy, defense=STANDARD)
        out[t] = (gap, value(frame, column(t, "distance"), defense=STANDARD))
    return out


def robust_transfers_better_far(frame) -> ClaimResult:
    """The farthest target (by distance) has a positive robust-minus-standard gap (P2 Table 1, Fig. 7)."""
    data = gaps_and_distances(frame)
    far = max(data, key=lambda t: data[t][1])
    gap, dist = data[far]
    numbers = {"gap": gap, "distance": dist,
               "robust_accuracy": value(frame, column(far, "accuracy"), defense=ROBUST),
               "standard_accuracy": value(frame, column(far, "accuracy"), defense=STANDARD)}
    return ClaimResult(gap > 0, numbers, f"farthest target: {far!r} (of {sorted(data)})")


def gap_grows_with_distance(frame) -> ClaimResult:
    """The gap increases with the target's distance: Spearman rank correlation > 0 over >= 2 targets (P2 Fig. 3, 7)."""
    data = gaps_and_distances(frame)
    if len(data) < 2:
        raise ClaimDataMissing(f"needs at least two transfer targets, found {sorted(data)}")
    names = sorted(data, key=lambda t: data[t][1])
    gaps = [data[t][0] for t in names]
    dists = [data[t][1] for t in names]
    rho = float(spearmanr(dists, gaps).statistic) if len(set(gaps)) > 1 else 0.0
    numbers = {"spearman": rho}
    for t in names:
        numbers[f"gap[{t}]"], numbers[f"distance[{t}]"] = data[t]
        numbers[f"robust_row_distance[{t}]"] = value(frame, column(t, "distance"), defense=ROBUST)
    return ClaimResult(rho > 0, numbers, "targets by increasing distance: " + ", ".join(names))


def transferred_robust_models_stay_robust(frame) -> ClaimResult:
    """Heads on robust features are more robust than heads on standard features (P2 Lemma 0.8).

    Holds when the robust source's transferred model is at least as robust on every target and
    strictly more robust on at least one (robust accuracy under the task's PGD).
    """
    numbers, at_least, strictly = {}, True, False
    for t in targets(frame):
        rob = value(frame, column(t, "robust_accuracy"), defense=ROBUST)
        st = value(frame, column(t, "robust_accuracy"), defense=STANDARD)
        numbers[f"robust_source[{t}]"], numbers[f"standard_source[{t}]"] = rob, st
        at_least, strictly = at_least and rob >= st, strictly or rob > st
    return ClaimResult(at_least and strictly, numbers,
                       "robust accuracy of the transferred models: >= on every target, > on at least one")
