"""P2's transfer claims as checks over a suite's leaderboard frame (``robarena claims p2-cpu``).

Each claim runs per source (dataset and model, ids and parameters; never pooled) and holds when it
holds for every source (:func:`robarena_infotransfer.claim_rows.per_source`). Rows by defense id and
training eps (:mod:`robarena_infotransfer.claim_rows`): ``standard`` (``classics/standard``, ordinary
training) and ``PGD-AT`` (``classics/pgd-at`` at eps 1 where trained, else the smallest training eps:
the robust source P2 transfers from, L2 eps 1 in P2). The targets are those of the
``infotransfer/transfer`` task's recorded ``targets`` parameter (each named by its ``label``, or
its dataset's name), and its columns ``<target>.accuracy``, ``.distance`` and ``.robust_accuracy``
are found by task id and metric name; every target with an accuracy column is used. Cross-row
quantities computed here:

* ``gap[t] = accuracy_PGD-AT[t] - accuracy_standard[t]``, the robust-minus-standard transfer
  accuracy (P2 Table 1, Fig. 3 and 7);
* the distance of target t is the EMD measured in the *standard* model's features (the ordinary
  feature extractor, as Cui et al. embed datasets with one standard network); the robust row's
  own distances are reported alongside;
* a target that is the source itself (same dataset id, and its given parameters equal to the
  source's recorded ones) is the zero-distance reference: it is left out of the gap's trend with
  distance (named in the detail).

Verdicts (level :data:`LEVEL` = 0.05): the task's accuracies carry no counts, so robust vs standard
is the one-sided paired t-test over seeds (one seed: inconclusive); the growth of the gap with
distance is Spearman's rank correlation, one-sided, by an exact permutation test over the targets
(the gaps as measured; with three targets its smallest p is 1/6, so it can never hold at 0.05).
"""
from __future__ import annotations

from scipy.stats import spearmanr

from bench.api.claim import (DEFAULT_LEVEL, ClaimDataMissing, ClaimResult, compare_metrics, component_params,
                             metric_column, some, spearman_trend, value)
from robarena_infotransfer.claim_rows import ROBUST, STANDARD, per_source, rows_of

TASK = "infotransfer/transfer"
#: the significance level of every P2 transfer claim
LEVEL = DEFAULT_LEVEL


def target_name(target: dict) -> str:
    """A target's name in the task's metric names: its ``label``, else its dataset's name."""
    return target.get("label") or str(target["id"]).rsplit("/", 1)[-1]


def targets(frame, task: str = TASK) -> list[str]:
    """Targets of the task's recorded parameters that have an accuracy column, in parameter order."""
    from bench.rows.frame import find_columns

    found: list[str] = []
    for info in frame.attrs.get("columns", []):
        if info.get("kind") == "task" and info.get("id") == task and info["column"] in frame.columns:
            for target in (info.get("params") or {}).get("targets") or []:
                name = target_name(target)
                if name not in found and find_columns(frame, "task", id=task, name=f"{name}.accuracy"):
                    found.append(name)
    if not found:
        raise ClaimDataMissing(f"no {task} <target>.accuracy column; run a suite with the transfer task")
    return found


def column(frame, target: str, metric: str, task: str = TASK) -> str:
    return metric_column(frame, task, f"{target}.{metric}")


def gaps_and_distances(frame) -> dict[str, tuple[float, float]]:
    """target -> (robust-minus-standard accuracy gap, distance in the standard model's features)."""
    names = targets(frame)
    robust, standard = rows_of(frame, ROBUST), rows_of(frame, STANDARD)
    out = {}
    for t in names:
        accuracy = column(frame, t, "accuracy")
        gap = value(robust, accuracy) - value(standard, accuracy)
        out[t] = (gap, value(standard, column(frame, t, "distance")))
    return out


def _same_param(have, want) -> bool:
    if isinstance(have, (int, float)) and isinstance(want, (int, float)) and not isinstance(have, bool):
        return abs(float(have) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
    return have == want


def source_targets(frame, task: str = TASK) -> list[str]:
    """Targets (by name) that are the rows' source dataset itself: the same dataset id, and every parameter
    the target gives equal to the source's recorded one (``frame.attrs["params"][row_id]["dataset"]``)."""
    found: list[str] = []
    sources = {(d_id, rid) for d_id, rid in zip(frame["dataset_id"], frame["row_id"])}
    for info in frame.attrs.get("columns", []):
        if info.get("kind") != "task" or info.get("id") != task:
            continue
        for target in (info.get("params") or {}).get("targets") or []:
            name = target_name(target)
            given = target.get("params") or {}
            for d_id, rid in sources:
                recorded = component_params(frame, rid, "dataset")
                if target.get("id") == d_id and all(k in recorded and _same_param(recorded[k], v)
                                                    for k, v in given.items()):
                    if name not in found:
                        found.append(name)
    return found


def robust_transfers_better_far(frame) -> ClaimResult:
    """The farthest target (by distance) has a positive robust-minus-standard gap (P2 Table 1, Fig. 7):
    the robust source's transfer accuracy there above the standard one's, one-sided over seeds; per
    source, holding when it holds for every source."""
    return per_source(_robust_transfers_better_far, frame, LEVEL)


def _robust_transfers_better_far(frame) -> ClaimResult:
    data = gaps_and_distances(frame)
    far = max(data, key=lambda t: data[t][1])
    gap, dist = data[far]
    accuracy = column(frame, far, "accuracy")
    robust, standard = rows_of(frame, ROBUST), rows_of(frame, STANDARD)
    numbers = {"gap": gap, "distance": dist, "robust_accuracy": value(robust, accuracy),
               "standard_accuracy": value(standard, accuracy)}
    return ClaimResult.of(compare_metrics(robust, standard, accuracy, "greater", LEVEL), numbers,
                          f"farthest target: {far!r} (of {sorted(data)})")


def gap_grows_with_distance(frame) -> ClaimResult:
    """The gap increases with the target's distance (P2 Fig. 3, 7): Spearman's rank correlation over
    at least two targets other than the source itself, one-sided exact permutation test; per source,
    holding when it holds for every source."""
    return per_source(_gap_grows_with_distance, frame, LEVEL)


def _gap_grows_with_distance(frame) -> ClaimResult:
    data = gaps_and_distances(frame)
    itself = [t for t in source_targets(frame) if t in data]
    for t in itself:
        del data[t]
    if len(data) < 2:
        raise ClaimDataMissing(f"needs at least two transfer targets other than the source, found {sorted(data)}"
                               + (f" (left out as the source itself: {itself})" if itself else ""))
    names = sorted(data, key=lambda t: data[t][1])
    gaps = [data[t][0] for t in names]
    dists = [data[t][1] for t in names]
    rho = float(spearmanr(dists, gaps).statistic) if len(set(gaps)) > 1 and len(set(dists)) > 1 else 0.0
    numbers = {"spearman": rho}
    for t in names:
        numbers[f"gap[{t}]"], numbers[f"distance[{t}]"] = data[t]
        numbers[f"robust_row_distance[{t}]"] = value(rows_of(frame, ROBUST), column(frame, t, "distance"))
    left_out = f"; left out as the source itself: {', '.join(itself)}" if itself else ""
    return ClaimResult.of(spearman_trend(dists, gaps, "greater", LEVEL), numbers,
                          "targets by increasing distance: " + ", ".join(names) + left_out)


def transferred_robust_models_stay_robust(frame) -> ClaimResult:
    """Heads on robust features are more robust than heads on standard features (P2 Lemma 0.8).

    Holds when the robust source's transferred model is significantly more robust on at least one
    target and significantly less robust on none (robust accuracy under the task's PGD; each target
    one-sided over seeds, Bonferroni over the targets both ways, :func:`bench.api.claim_stats.some`);
    per source, holding when it holds for every source.
    """
    return per_source(_transferred_robust_models_stay_robust, frame, LEVEL)


def _transferred_robust_models_stay_robust(frame) -> ClaimResult:
    numbers = {}
    names = targets(frame)
    robust, standard = rows_of(frame, ROBUST), rows_of(frame, STANDARD)
    comparisons = {}
    for t in names:
        col = column(frame, t, "robust_accuracy")
        numbers[f"robust_source[{t}]"], numbers[f"standard_source[{t}]"] = value(robust, col), value(standard, col)
        comparisons[t] = compare_metrics(robust, standard, col, "greater", LEVEL)
    return ClaimResult.of(some(comparisons, LEVEL), numbers,
                          "robust accuracy of the transferred models: more robust on one target, less on none")
