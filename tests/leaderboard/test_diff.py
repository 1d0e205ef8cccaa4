"""Diffs: added/removed/changed rows, deltas, tolerance, significance, which versions moved, and
snapshots of row schema 1 against schema 2."""
from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest

from bench.errors import LeaderboardError
from bench.leaderboard.build import build_snapshot, load_snapshot
from bench.leaderboard.diff import (SIGNIFICANCE_TEST, MetricChange, VersionMove, accuracy_significance,
                                    diff_snapshots, format_diff, rows_match)
from bench.rows.schema import Accuracy

PUBLISHED = Path(__file__).resolve().parents[2] / "leaderboard"


def test_identical(rows):
    diff = diff_snapshots(rows, list(reversed(rows)))
    assert diff.identical and diff.unchanged == 3
    assert not (diff.added or diff.removed or diff.changed or diff.moved_only)
    assert rows_match(rows, rows)
    assert format_diff(diff).splitlines() == [
        "3 unchanged, 0 added, 0 removed, 0 changed (exact)", "The snapshots hold identical results."]


def test_added_and_removed(rows, make_row):
    new = rows[1:] + [make_row("trades", 0)]
    diff = diff_snapshots(rows, new)
    assert [r.row_id for r in diff.added] == ["digits/mlp/trades/seed0"]
    assert [r.row_id for r in diff.removed] == ["digits/mlp/standard/seed0"]
    assert diff.unchanged == 2 and not diff.changed and not diff.identical
    text = format_diff(diff)
    assert "  + digits/mlp/trades/seed0" in text and "  - digits/mlp/standard/seed0" in text


def test_changed_metrics_with_deltas_and_moved_versions(make_row):
    old = [make_row("standard", 0)]
    new = [make_row("standard", 0, pgd=0.5, fgsm=0.5, plugins={"robarena-classics": "0.2.0", "robarena-p3": "1.0"},
                    specs={"classics/pgd": "2", "classics/fgsm": "1", "classics/mlp": "1"},
                    config_hash="cfg-bbbb", date="2025-01-01T00:00:00Z")]
    diff = diff_snapshots(old, new)
    (change,) = diff.changed
    assert change.row_id == "digits/mlp/standard/seed0"
    assert [(m.column, m.old, m.new, m.delta, m.old_count, m.new_count) for m in change.metrics] == [
        ("robust[pgd Linf 0.1]", 0.4567, 0.5, 0.5 - 0.4567, (4567, 10_000), (5000, 10_000)),
        ("ensemble[Linf 0.1]", 0.4567, 0.5, 0.5 - 0.4567, (4567, 10_000), (5000, 10_000)),
    ]  # fgsm stayed at 0.5
    assert all(m.significance.significant for m in change.metrics)  # 433 of 10,000 examples
    assert change.moved == (  # date moved too, but a date is no cause
        VersionMove("plugins[robarena-classics]", "0.1.0", "0.2.0"),
        VersionMove("plugins[robarena-p3]", None, "1.0"),
        VersionMove("specs[classics/pgd]", "1", "2"),
        VersionMove("config_hash", "cfg-aaaa", "cfg-bbbb"),
    )
    text = format_diff(diff)
    assert "robust[pgd Linf 0.1]: 45.67% (4567/10000) -> 50.00% (5000/10000) (+4.33 pp), significant (p = " in text
    assert ("why (versions moved): plugins[robarena-classics] 0.1.0 -> 0.2.0; plugins[robarena-p3] (absent) -> 1.0; "
            "specs[classics/pgd] 1 -> 2; config_hash cfg-aaaa -> cfg-bbbb") in text


@pytest.mark.parametrize("field, old, new", [
    ("core_version", "0.1.0", "0.2.0"), ("data_fingerprint", "digits-1797-abcd", "digits-1797-ffff"),
    ("torch_version", "2.3.0", "2.4.0"), ("device", "cpu", "cuda:0"), ("n", 500, 1000),
])
def test_each_provenance_field_is_reported(make_row, field, old, new):
    diff = diff_snapshots([make_row(clean=0.8)], [make_row(clean=0.81, **{field: new})])
    assert diff.changed[0].moved == (VersionMove(field, str(old), str(new)),)


def test_nondeterminism_is_named(make_row):
    diff = diff_snapshots([make_row(clean=0.8)], [make_row(clean=0.8001)])
    assert "why (versions moved): no provenance field moved" in format_diff(diff)
    assert "clean: 80.00% (8000/10000) -> 80.01% (8001/10000) (+0.01 pp), within noise (p = 1)" in format_diff(diff)


def test_probe_delta_and_none_and_flags(make_row):
    old = [make_row(probe=0.125, pgd=0.4)]
    new = [make_row(probe=0.25, pgd=None, flags=("zero_grad",), errors=("attack classics/pgd: boom",))]
    change = diff_snapshots(old, new).changed[0]
    assert MetricChange("probe[margin.mean]", 0.125, 0.25, 0.125) in change.metrics  # no count, no test
    assert MetricChange("robust[pgd Linf 0.1]", 0.4, None, None, old_count=(4000, 10_000)) in change.metrics
    assert change.flags_added == ("zero_grad",) and change.errors_added == ("attack classics/pgd: boom",)
    text = format_diff(diff_snapshots(old, new))
    assert "probe[margin.mean]: 0.125 -> 0.25 (+0.125)" in text
    assert "robust[pgd Linf 0.1]: 40.00% (4000/10000) -> None\n" in text and "flags: +zero_grad" in text
    back = diff_snapshots(new, old).changed[0]
    assert back.flags_removed == ("zero_grad",) and back.errors_removed == ("attack classics/pgd: boom",)


def test_columns_appearing_and_disappearing(make_row, row_dict):
    extra = row_dict()
    square = {**extra["attacks"][1], "attack_id": "classics/square", "label": "square",
              "accuracy": Accuracy.of(7000, 10_000).model_dump()}
    extra["attacks"].append(square)
    del extra["probe_results"][0]
    change = diff_snapshots([make_row()], [extra]).changed[0]
    assert change.metrics == (MetricChange("probe[margin.mean]", 0.125, None, None, "removed"),
                              MetricChange("robust[square Linf 0.1]", None, 0.7, None, "added",
                                           new_count=(7000, 10_000)))
    text = format_diff(diff_snapshots([make_row()], [extra]))
    assert "(column gone)" in text and "(new column)" in text


def test_tolerance(make_row):
    old, new = [make_row(clean=0.8)], [make_row(clean=0.8004)]
    assert not rows_match(old, new)  # exact by default
    assert not rows_match(old, new, atol=1e-4)
    assert rows_match(old, new, atol=5e-4)
    diff = diff_snapshots(old, new, atol=5e-4)
    assert diff.identical and diff.unchanged == 1 and "(atol=0.0005)" in format_diff(diff)
    assert rows_match([make_row(pgd=None)], [make_row(pgd=None)], atol=1.0)
    assert not rows_match([make_row(pgd=None)], [make_row(pgd=0.0)], atol=1.0)  # missing is never "close"
    with pytest.raises(LeaderboardError, match="atol must be a finite number >= 0"):
        diff_snapshots(old, new, atol=-1)


def test_provenance_only_moves_are_reported_but_identical(make_row):
    diff = diff_snapshots([make_row()], [make_row(core_version="0.2.0")])
    assert diff.identical and not diff.changed
    assert diff.moved_only[0].moved == (VersionMove("core_version", "0.1.0", "0.2.0"),)
    assert "Provenance moved, results unchanged:\n  = digits/mlp/standard/seed0: core_version 0.1.0 -> 0.2.0" \
        in format_diff(diff)


def test_rows_match_is_exact_at_zero(make_row, row_dict):
    a = make_row(clean=0.7)
    assert rows_match([a], [make_row(clean=0.7)])
    assert not rows_match([a], [make_row(clean=0.7001)])  # one example of 10,000
    ulp = row_dict(clean=0.7)
    ulp["clean"]["value"] = math.nextafter(0.7, 1.0)  # within the 1e-12 the count check allows
    assert not rows_match([a], [ulp])  # one ulp apart
    assert not rows_match([a], [])


def test_invalid_input_rows_are_rejected(row_dict):
    row = row_dict()
    row["clean"]["value"] = 2.0
    with pytest.raises(LeaderboardError, match="clean.value"):
        diff_snapshots([row], [])


# --------------------------------------------------------------------------- significance
def _hypergeometric_tail(k: int, n1: int, n2: int, successes: int, upper: bool) -> Fraction:
    """P[X >= k] (or <= k) for X ~ Hypergeometric(n1 + n2, successes, n1), exactly with integers:
    the one-sided p-value of Fisher's exact test for k of n1 against successes - k of n2."""
    total = math.comb(n1 + n2, n1)
    values = range(k, min(n1, successes) + 1) if upper else range(max(0, successes - n2), k + 1)
    return Fraction(sum(math.comb(successes, x) * math.comb(n1 + n2 - successes, n1 - x) for x in values), total)


def _two_sided_fisher(k_new: int, k_old: int, n: int) -> float:
    tails = [_hypergeometric_tail(k_new, n, n, k_new + k_old, upper) for upper in (True, False)]
    return float(min(1, 2 * min(tails)))


@pytest.mark.parametrize("old, new, significant", [
    (250, 251, False),  # one example of 500
    (250, 249, False),
    (250, 400, True),  # 0.50 -> 0.80
    (400, 250, True),
    (250, 272, False),  # +4.4 points: inside the interval of 500 examples
    (250, 290, True),  # +8 points
])
def test_significance_is_fishers_exact_test_on_the_counts(old, new, significant):
    result = accuracy_significance(Accuracy.of(old, 500), Accuracy.of(new, 500))
    assert result.p_value == pytest.approx(_two_sided_fisher(new, old, 500), rel=1e-9, abs=1e-300)
    assert result.significant is significant and result.level == 0.05
    assert result.verdict == ("significant" if significant else "within noise")
    assert accuracy_significance(Accuracy.of(old, 500), Accuracy.of(0, 0)) is None  # no examples: no test


def _rows_at_n(row_dict, clean: int, pgd: int, n: int = 500):
    """A row whose clean, pgd, fgsm and worst-case accuracies are counts of ``n`` examples."""
    row = row_dict()
    row["clean"] = Accuracy.of(clean, n).model_dump()
    row["attacks"][0]["accuracy"] = Accuracy.of(pgd, n).model_dump()
    row["attacks"][1]["accuracy"] = Accuracy.of(pgd, n).model_dump()
    row["worst_case"][0]["accuracy"] = Accuracy.of(pgd, n).model_dump()
    return row


def test_diff_marks_each_accuracy_change_and_names_the_test(row_dict):
    old = [_rows_at_n(row_dict, clean=250, pgd=100)]
    new = [_rows_at_n(row_dict, clean=400, pgd=101)]
    (change,) = diff_snapshots(old, new).changed
    verdicts = {m.column: m.significance.significant for m in change.metrics}
    assert verdicts == {"clean": True, "robust[pgd Linf 0.1]": False, "robust[fgsm Linf 0.1]": False,
                        "ensemble[Linf 0.1]": False}
    text = format_diff(diff_snapshots(old, new))
    assert "clean: 50.00% (250/500) -> 80.00% (400/500) (+30.00 pp), significant (p = " in text
    assert "robust[pgd Linf 0.1]: 20.00% (100/500) -> 20.20% (101/500) (+0.20 pp), within noise (p = 1)" in text
    assert (f"Accuracy changes: 1 significant, 3 within noise at level 0.05; test: {SIGNIFICANCE_TEST}" in text)
    assert "two-sided Fisher's exact test on the counts" in SIGNIFICANCE_TEST
    # atol still decides what is listed at all: the one-example changes (0.002) disappear, the test stays
    (change,) = diff_snapshots(old, new, atol=0.0025).changed
    assert [m.column for m in change.metrics] == ["clean"] and change.metrics[0].significance.significant


# --------------------------------------------------------------------------- schema 1 against schema 2
def test_schema_1_and_schema_2_snapshots_diff_cleanly(tmp_path):
    """The published schema-1 snapshot against a schema-2 rebuild of the same rows: the same display
    columns, no difference; a changed count in the rebuild is reported under the v1 column name."""
    old = load_snapshot(PUBLISHED, "quick", "1")
    build_snapshot(old, "quick", "2", root=tmp_path)
    new = load_snapshot(tmp_path, "quick", "2")
    diff = diff_snapshots(old, new)
    assert diff.identical and diff.unchanged == 2 and not diff.moved_only
    raw = [json.loads(line) for line in (PUBLISHED / "quick" / "1" / "rows.jsonl").read_text().splitlines()]
    for v1, row in zip(sorted(raw, key=lambda r: r["row_id"]), new):  # v1 labels are v2 display columns
        assert row.robust == v1["robust"] and row.ensemble == v1["ensemble"] and row.probes == v1["probes"]
        assert row.clean_accuracy == v1["clean_accuracy"]

    pgd_at = next(r for r in new if r.defense == "pgd-at")
    pgd = pgd_at.attack("classics/pgd", norm="Linf", eps=0.1)
    worse = pgd.model_copy(update={"accuracy": Accuracy.of(pgd.accuracy.correct - 1, 500)})
    edited = pgd_at.model_copy(update={"attacks": [worse if a is pgd else a for a in pgd_at.attacks],
                                       "worst_case": []})
    (change,) = diff_snapshots(old, [edited if r is pgd_at else r for r in new]).changed
    assert [(m.column, m.kind) for m in change.metrics] == [("robust[pgd Linf 0.1]", "changed"),
                                                            ("ensemble[Linf 0.1]", "removed")]
    assert change.metrics[0].old_count == (400, 500) and change.metrics[0].new_count == (399, 500)
    assert not change.metrics[0].significance.significant
