"""Diffs: added/removed/changed rows, deltas, tolerance, and which versions moved."""
from __future__ import annotations

import pytest

from bench.errors import LeaderboardError
from bench.leaderboard.diff import MetricChange, VersionMove, diff_snapshots, format_diff, rows_match


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
    assert change.metrics == (
        MetricChange("robust[pgd Linf 0.1]", 0.4567, 0.5, 0.5 - 0.4567),
        MetricChange("ensemble[Linf 0.1]", 0.4567, 0.5, 0.5 - 0.4567),
    )  # fgsm stayed at 0.5
    assert change.moved == (  # date moved too, but a date is no cause
        VersionMove("plugins[robarena-classics]", "0.1.0", "0.2.0"),
        VersionMove("plugins[robarena-p3]", None, "1.0"),
        VersionMove("specs[classics/pgd]", "1", "2"),
        VersionMove("config_hash", "cfg-aaaa", "cfg-bbbb"),
    )
    text = format_diff(diff)
    assert "robust[pgd Linf 0.1]: 45.67% -> 50.00% (+4.33 pp)" in text
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
    diff = diff_snapshots([make_row(clean=0.8)], [make_row(clean=0.8 + 1e-12)])
    assert "why (versions moved): no provenance field moved" in format_diff(diff)
    assert "clean: 80.00% -> 80.00% (+1e-10 pp)" in format_diff(diff)


def test_probe_delta_and_none_and_flags(make_row):
    old = [make_row(probe=0.125, pgd=0.4)]
    new = [make_row(probe=0.25, pgd=None, flags=("zero_grad",), errors=("attack classics/pgd: boom",))]
    change = diff_snapshots(old, new).changed[0]
    assert MetricChange("probe[margin.mean]", 0.125, 0.25, 0.125) in change.metrics
    assert MetricChange("robust[pgd Linf 0.1]", 0.4, None, None) in change.metrics
    assert change.flags_added == ("zero_grad",) and change.errors_added == ("attack classics/pgd: boom",)
    text = format_diff(diff_snapshots(old, new))
    assert "probe[margin.mean]: 0.125 -> 0.25 (+0.125)" in text
    assert "robust[pgd Linf 0.1]: 40.00% -> None" in text and "flags: +zero_grad" in text
    back = diff_snapshots(new, old).changed[0]
    assert back.flags_removed == ("zero_grad",) and back.errors_removed == ("attack classics/pgd: boom",)


def test_columns_appearing_and_disappearing(make_row, row_dict):
    extra = row_dict()
    extra["robust"]["square Linf 0.1"] = 0.7
    del extra["probes"]["margin.mean"]
    change = diff_snapshots([make_row()], [extra]).changed[0]
    assert change.metrics == (MetricChange("probe[margin.mean]", 0.125, None, None, "removed"),
                              MetricChange("robust[square Linf 0.1]", None, 0.7, None, "added"))
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


def test_rows_match_is_exact_at_zero(make_row):
    a = make_row(clean=0.1 + 0.2)
    assert rows_match([a], [make_row(clean=0.30000000000000004)])
    assert not rows_match([a], [make_row(clean=0.3)])  # one ulp apart
    assert not rows_match([a], [])


def test_invalid_input_rows_are_rejected(row_dict):
    with pytest.raises(LeaderboardError, match="clean_accuracy"):
        diff_snapshots([row_dict(clean=2.0)], [])
