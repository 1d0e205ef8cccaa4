"""P1's qualitative claims as checks over a suite's leaderboard frame (``robarena claims p1-cpu``).

The checks read the AR-strength sweep from the defense labels, the convention of the P1 suites:
``"standard"`` is strength 0 and ``"<family> <eps>"`` (e.g. ``"PGD-AT 0.1"``, ``"FGSM-AT 0.1"``, or
``"PGD-AT 8"`` and ``"SN-1 PGD-AT 8"`` with P1's AR strength on the 0-255 scale, as suite labels
cannot hold a '/') is a model trained by that family at Linf radius ``eps``; only the order of the
strengths matters. Every (dataset, model) pair of the frame is checked on its own and a claim holds when it
holds for all of them. Values are means over seeds (:func:`bench.api.claim.value`). A "trend"
holds when the value moves strictly in the stated direction between every two consecutive
strengths.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from bench.api.claim import ClaimDataMissing, ClaimResult, select, value
from bench.threat import parse_eps
from robarena_margins.std_difference import accumulated_std_difference, stds_from_row

STANDARD = "standard"
GAP = "probe[generalization.loss_gap]"
TRAIN_LOSS = "probe[generalization.train_loss]"
MARGIN = "probe[margin.mean]"
P_Y = "probe[confidence.mean_p_y]"
P_Y_MIDDLE = "probe[confidence.frac_middle]"
VARIATION_PREFIX = "probe[loss-variation.mean@"


def groups(frame: Any) -> Iterator[tuple[str, Any]]:
    """(``"<dataset>/<model>"``, rows) for every dataset and model of the frame."""
    for name in ("dataset", "model", "defense"):
        if name not in frame.columns:
            raise ClaimDataMissing(f"results have no column {name!r}")
    if len(frame) == 0:
        raise ClaimDataMissing("the results have no rows")
    for (dataset, model), rows in frame.groupby(["dataset", "model"], sort=True):
        yield f"{dataset}/{model}", rows


def sweep(rows: Any, family: str = "PGD-AT", with_standard: bool = True) -> list[tuple[float, str]]:
    """(strength, defense label) sorted by strength: ``standard`` (0, if present and wanted) and
    every ``"<family> <eps>"`` label. At least two strengths, else :class:`ClaimDataMissing`."""
    pattern = re.compile(rf"^{re.escape(family)} (\S+)$")
    found = []
    for label in sorted(set(rows["defense"])):
        match = pattern.match(str(label))
        if match:
            try:
                found.append((parse_eps(match.group(1))[0], label))
            except ValueError:
                continue
        elif with_standard and label == STANDARD:
            found.append((0.0, label))
    found.sort()
    if len(found) < 2:
        raise ClaimDataMissing(f"need at least two AR strengths ('{STANDARD}' or '{family} <eps>' defense labels), "
                               f"found {[label for _, label in found]}")
    return found


def strictly_monotone(values: list[float], direction: str) -> bool:
    """``direction`` "down": every value below the previous one; "up": above."""
    pairs = list(zip(values, values[1:]))
    return all(b < a for a, b in pairs) if direction == "down" else all(b > a for a, b in pairs)


def _key(group: str, label: str, several: bool) -> str:
    return f"{group}/{label}" if several else label


def trend(frame: Any, column: str, direction: str, family: str = "PGD-AT", with_standard: bool = True) -> ClaimResult:
    """Does ``column`` move strictly ``direction`` ("up"/"down") with AR strength in every group?"""
    parts = list(groups(frame))
    numbers: dict[str, float] = {}
    failing = []
    for name, rows in parts:
        points = sweep(rows, family, with_standard)
        values = [value(rows, column, defense=label) for _, label in points]
        numbers.update({_key(name, label, len(parts) > 1): v for (_, label), v in zip(points, values)})
        if not strictly_monotone(values, direction):
            failing.append(name)
    word = "decreases" if direction == "down" else "increases"
    detail = f"{column} {word} strictly with AR strength" if not failing else \
        f"{column} does not {word[:-1]} strictly with AR strength for {failing}"
    return ClaimResult(not failing, numbers, detail)


def trend_claim(column: str, direction: str, family: str = "PGD-AT") -> Callable[[Any], ClaimResult]:
    def check(frame: Any) -> ClaimResult:
        return trend(frame, column, direction, family)
    check.__doc__ = f"{column} moves {direction} with {family} strength (standard = 0)."
    return check


# ---------------------------------------------------------------- Sec. 5.1, Fig. 3, Tables 3-5; B.6 Table 2
loss_gap_shrinks = trend_claim(GAP, "down")
train_loss_grows = trend_claim(TRAIN_LOSS, "up")
test_accuracy_drops = trend_claim("clean", "down")
fgsm_at_loss_gap_shrinks = trend_claim(GAP, "down", family="FGSM-AT")
# ---------------------------------------------------------------- Sec. 5.2.1, Fig. 1b, 4, 5a
margins_concentrate = trend_claim(MARGIN, "down")
less_confident = trend_claim(P_Y, "down")
p_y_concentrates_middle = trend_claim(P_Y_MIDDLE, "up")


def strongest_ar_most_robust(frame: Any) -> ClaimResult:
    """The highest AR strength has the highest PGD accuracy on clean-correct points (P1 Fig. 1c, 11; D.2).

    P1 counts only clean-correct examples: its "PGD" accuracy is robust / clean. The PGD column is
    the one ``robust[...]`` column whose attack label starts with "PGD".
    """
    pgd = [c for c in frame.columns if c.startswith("robust[PGD")]
    if len(pgd) != 1:
        raise ClaimDataMissing(f"need exactly one 'robust[PGD...]' column, found {pgd}")
    parts = list(groups(frame))
    numbers, failing = {}, []
    for name, rows in parts:
        points = sweep(rows)
        ratios = [value(rows, pgd[0], defense=label) / value(rows, "clean", defense=label) for _, label in points]
        numbers.update({_key(name, label, len(parts) > 1): r for (_, label), r in zip(points, ratios)})
        if not all(ratios[-1] > r for r in ratios[:-1]):
            failing.append(name)
    detail = "the strongest AR gives the highest PGD accuracy on clean-correct points" if not failing else \
        f"a weaker AR strength is at least as robust for {failing}"
    return ClaimResult(not failing, numbers, detail)


def _layer_stds(rows: Any, label: str) -> dict[str, float]:
    """Per-layer STDs of the rows labelled ``label``, averaged over seeds."""
    picked = select(rows, defense=label)
    per_row = [stds_from_row(record) for record in picked.to_dict("records")]
    layers = set().union(*per_row)
    if not layers:
        raise ClaimDataMissing(f"no 'probe[layer-spectrum.sv_std.*]' columns for defense {label!r}")
    return {k: sum(r[k] for r in per_row if k in r) / sum(1 for r in per_row if k in r) for k in layers}


def sv_std_shrinks(frame: Any) -> ClaimResult:
    """P1 B.2: from the weakest to the strongest PGD-AT model, the accumulated STD decrease over the
    layers whose singular-value STD dropped exceeds the accumulated increase over those where it rose."""
    parts = list(groups(frame))
    numbers, failing = {}, []
    for name, rows in parts:
        points = sweep(rows, with_standard=False)
        weak, strong = points[0][1], points[-1][1]
        diff = accumulated_std_difference(_layer_stds(rows, weak), _layer_stds(rows, strong))
        prefix = f"{name}/" if len(parts) > 1 else ""
        numbers.update({f"{prefix}decrease_sum": diff.decrease_sum, f"{prefix}n_decrease": diff.n_decrease,
                        f"{prefix}increase_sum": diff.increase_sum, f"{prefix}n_increase": diff.n_increase})
        if not diff.decrease_sum > diff.increase_sum:
            failing.append(name)
    detail = "accumulated STD decrease exceeds the accumulated increase (weakest -> strongest PGD-AT)" \
        if not failing else f"accumulated STD decrease does not exceed the increase for {failing}"
    return ClaimResult(not failing, numbers, detail)


def loss_variation_shrinks(frame: Any) -> ClaimResult:
    """P1 B.5, Table 1: at every perturbation radius the mean maximal loss variation decreases with AR."""
    columns = sorted(c for c in frame.columns if c.startswith(VARIATION_PREFIX))
    if not columns:
        raise ClaimDataMissing(f"results have no '{VARIATION_PREFIX}<eps>]' column")
    numbers: dict[str, float] = {}
    failing = []
    for column in columns:
        result = trend(frame, column, "down")
        shown = column[len(VARIATION_PREFIX):-1]
        numbers.update({f"{k} @{shown}": v for k, v in result.numbers.items()})
        if not result.holds:
            failing.append(shown)
    detail = "mean maximal loss variation decreases with AR strength at every radius" if not failing else \
        f"it does not decrease strictly at radius {failing}"
    return ClaimResult(not failing, numbers, detail)


def spectral_clip_lowers_loss_gap(frame: Any) -> ClaimResult:
    """P1 B.4, Table 6: a spectral-norm bound (``"SN-<b> PGD-AT <eps>"``) gives a smaller loss gap than
    PGD-AT at the same eps without it (``"PGD-AT <eps>"``), for every such pair."""
    pattern = re.compile(r"^SN-(\S+) (PGD-AT \S+)$")
    parts = list(groups(frame))
    numbers, failing, pairs = {}, [], 0
    for name, rows in parts:
        labels = set(rows["defense"])
        for label in sorted(labels):
            match = pattern.match(str(label))
            if not match or match.group(2) not in labels:
                continue
            pairs += 1
            clipped, plain = value(rows, GAP, defense=label), value(rows, GAP, defense=match.group(2))
            numbers[_key(name, label, len(parts) > 1)] = clipped
            numbers[_key(name, match.group(2), len(parts) > 1)] = plain
            if not clipped < plain:
                failing.append(f"{name}/{label}")
    if not pairs:
        raise ClaimDataMissing("no 'SN-<bound> PGD-AT <eps>' row with a matching 'PGD-AT <eps>' row")
    detail = "every spectral-norm bound lowers the loss gap" if not failing else \
        f"the loss gap is not lower for {failing}"
    return ClaimResult(not failing, numbers, detail)



def loss_gap_shrinks_at_every_bound(frame: Any) -> ClaimResult:
    """P1 B.4, Table 6: at every spectral-norm bound (rows ``"SN-<b> PGD-AT <eps>"``) and without one
    (``"PGD-AT <eps>"``), the loss gap decreases as the PGD-AT eps grows."""
    labels = {str(label) for label in frame["defense"]} if "defense" in frame.columns else set()
    families = sorted({m.group(1) for m in map(re.compile(r"^(SN-\S+ PGD-AT) \S+$").match, labels) if m})
    if not families:
        raise ClaimDataMissing("no 'SN-<bound> PGD-AT <eps>' rows")
    numbers: dict[str, float] = {}
    failing = []
    for family in families + ["PGD-AT"]:
        result = trend(frame, GAP, "down", family, with_standard=False)
        numbers.update(result.numbers)
        if not result.holds:
            failing.append(family)
    detail = "the loss gap decreases with eps at every bound" if not failing else \
        f"the loss gap does not decrease strictly with eps for {failing}"
    return ClaimResult(not failing, numbers, detail)
