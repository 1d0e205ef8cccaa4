"""Step curves (an inversion's 1,001-step loss): drawn as lines without a marker per step, on a log y axis
when the values are positive and span orders of magnitude; short curves keep their markers."""
from __future__ import annotations

import numpy as np
import pytest

from bench.leaderboard.plots import LOG_RATIO, MAX_MARKERS, collect, log_helps, render


def _curve_spec(rows, curves):
    arrays = {row.row_id: {("task", "inversion"): {"loss_curve": curve}} for row, curve in zip(rows, curves)}
    specs, notes = collect(rows, arrays)
    assert notes == []
    (spec,) = [s for s in specs if s.kind == "curve"]
    return spec


def test_a_long_loss_curve_is_a_markerless_line_on_a_log_axis(make_row):
    a, b = make_row("standard", 0), make_row("pgd-at", 0)
    steps = np.arange(1001)
    fast, slow = np.exp(-steps / 100.0), 0.5 * np.exp(-steps / 400.0)  # 1 -> 4.5e-5 and 0.5 -> 0.041
    spec = _curve_spec([a, b], [fast, slow])
    assert spec.yscale == "log" and spec.ylabel == "loss (log scale)"
    ax = render(spec).axes[0]
    assert ax.get_yscale() == "log"
    lines = [line for line in ax.lines if len(line.get_xdata()) > 1]
    assert len(lines) == 2
    for line in lines:
        assert line.get_marker() in (None, "None", "", " ")  # no dot on each of the 1,001 steps
        assert line.get_linestyle() != "None"
    drawn = sorted((tuple(line.get_ydata()) for line in lines), key=lambda ys: ys[-1])
    assert np.allclose(drawn[0], fast) and np.allclose(drawn[1], slow)
    assert len(lines[0].get_xdata()) == 1001 > MAX_MARKERS
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert [text for _, text in ticks] == ["1e-4", "0.001", "0.01", "0.1", "1"]  # one per decade over 4+ decades
    assert all(t.get_text() == "" for t in ax.yaxis.get_minorticklabels())


def test_a_curve_over_less_than_two_decades_has_ticks_at_1_2_5(make_row):
    spec = _curve_spec([make_row("standard", 0)], [np.geomspace(0.5, 0.02, 300)])
    ax = render(spec).axes[0]
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    assert [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high] == \
        ["0.02", "0.05", "0.1", "0.2", "0.5"]


def test_a_short_curve_keeps_markers_and_a_linear_axis(make_row):
    spec = _curve_spec([make_row("standard", 0)], [np.array([4.0, 2.0, 1.0, 0.5])])  # a factor 8 < LOG_RATIO
    assert spec.yscale == "linear" and spec.ylabel == "loss"
    ax = render(spec).axes[0]
    assert ax.get_yscale() == "linear"
    (line,) = ax.lines
    assert line.get_marker() == "o" and list(line.get_ydata()) == [4.0, 2.0, 1.0, 0.5]


@pytest.mark.parametrize("values, expected", [
    ([1.0, 1.0 / LOG_RATIO], True),
    ([1.0, 1.01 / LOG_RATIO], False),
    ([1.0, 0.0, 1e-6], False),  # zero has no place on a log axis
    ([1.0, -1e-3], False),
    ([float("nan"), 1.0, 1e-3], True),  # non-finite values are skipped
    ([], False),
])
def test_log_scale_only_where_it_helps(values, expected):
    assert log_helps(values) is expected


def test_per_layer_curves_stay_linear(make_row):
    row = make_row("standard", 0)
    specs, _ = collect([row], {row.row_id: {("probe", "p"): {"norm_per_layer": np.array([1000.0, 1.0, 0.1])}}})
    (spec,) = [s for s in specs if s.kind == "per-layer"]
    assert spec.yscale == "linear"
    assert render(spec).axes[0].lines[0].get_marker() == "o"
