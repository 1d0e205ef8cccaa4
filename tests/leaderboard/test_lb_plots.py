"""Plots found by naming conventions: the numbers handed to matplotlib, and the PNG files."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from bench.leaderboard import plots
from bench.leaderboard.plots import PlotSpec, Series, collect, render, to_png
from bench.rows.schema import Accuracy, AttackResult, MetricResult, Threat, WorstCase


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every PNG chunk, CRCs checked (an independent PNG reader)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + payload)
        chunks.append((kind, payload))
        pos += 12 + length
    return chunks


def _size(data: bytes) -> tuple[int, int]:
    kind, payload = _png_chunks(data)[0]
    assert kind == b"IHDR"
    return struct.unpack(">II", payload[:8])


def _acc(value):
    return None if value is None else Accuracy.of(round(value * 10_000), 10_000)


def _threat(norm, eps, targeted=False, display=None):
    return Threat(norm=norm, eps=eps, eps_display=display or ("inf" if eps is None else f"{eps:g}"), targeted=targeted)


def _attack(label, norm, eps, value, targeted=False, display=None, substitute=None):
    return AttackResult(attack_id=f"classics/{label.split()[-1]}", label=label, threat=_threat(norm, eps, targeted, display),
                        substitute=substitute, accuracy=_acc(value))


def _worst(norm, eps, value, members):
    return WorstCase(threat=_threat(norm, eps), attacks=list(members), accuracy=_acc(value))


def _robust_row(make_row, defense, clean, attacks, worst=(), flags=()):
    row = make_row(defense, 0, clean=clean, flags=flags)
    return row.model_copy(update={"attacks": list(attacks), "worst_case": list(worst)})


def _percent(value):
    """(value, low, high) of the 95 % interval of value * 10,000 correct of 10,000, in percent."""
    acc = _acc(value)
    return 100 * acc.value, 100 * acc.low, 100 * acc.high


def test_eps_curves_carry_the_rows_numbers(make_row):
    rows = [
        _robust_row(make_row, "standard", 0.9,
                    [_attack("pgd", "Linf", 0.1, 0.2), _attack("pgd", "Linf", 0.05, 0.5),
                     _attack("pgd", "Linf", 8 / 255, 0.6, display="8/255"), _attack("fgsm", "Linf", 0.1, 0.3),
                     _attack("pgd", "L2", 0.5, 0.7, targeted=True)],
                    [_worst("Linf", 0.1, 0.15, ["pgd", "fgsm"]), _worst("Linf", 0.05, 0.45, ["pgd"])]),
        _robust_row(make_row, "pgd-at", 0.8,
                    [_attack("pgd", "Linf", 0.1, 0.6), _attack("pgd", "Linf", 0.05, None),
                     _attack("fgsm", "Linf", 0.1, 0.65)],
                    [_worst("Linf", 0.1, 0.55, ["pgd", "fgsm"])], flags=("non-monotone-eps:pgd Linf",)),
    ]
    specs, notes = collect(rows)
    curves = {s.key: s for s in specs if s.kind == "eps-curve"}
    assert list(curves) == [("robust", "classics/fgsm", "fgsm", "Linf"), ("robust", "classics/pgd", "pgd", "L2 targeted"),
                            ("robust", "classics/pgd", "pgd", "Linf"), ("ensemble", "worst case", "Linf")]
    pgd = curves[("robust", "classics/pgd", "pgd", "Linf")]
    assert pgd.source == "robust[pgd Linf <eps>]" and pgd.ylim == (0.0, 100.0)
    by_row = {s.row_id: s for s in pgd.series}
    std, at = by_row["digits/mlp/standard/seed0"], by_row["digits/mlp/pgd-at/seed0"]
    # the threats' eps sorted numerically (8/255 = 0.0314 first), robust accuracy in percent with its interval
    assert std.x == (8 / 255, 0.05, 0.1)
    assert std.y == pytest.approx((60.0, 50.0, 20.0), abs=1e-12)
    assert std.low == pytest.approx(tuple(_percent(v)[1] for v in (0.6, 0.5, 0.2)))
    assert std.high == pytest.approx(tuple(_percent(v)[2] for v in (0.6, 0.5, 0.2)))
    assert std.anchor == pytest.approx((0.0, *_percent(0.9)))  # clean accuracy: a marker at eps 0, joined to nothing
    assert at.x == (0.1,) and at.y == pytest.approx((60.0,))  # the failed 0.05 cell is left out
    assert at.anchor == pytest.approx((0.0, *_percent(0.8)))
    assert at.dashed and not std.dashed and at.label.endswith("(flagged)")
    assert at.color != std.color
    targeted = curves[("robust", "classics/pgd", "pgd", "L2 targeted")]
    assert [(s.x, s.y) for s in targeted.series] == [((0.5,), pytest.approx((70.0,)))]
    worst = curves[("ensemble", "worst case", "Linf")]
    assert {s.row_id: (s.x, s.y) for s in worst.series} == {
        "digits/mlp/pgd-at/seed0": ((0.1,), pytest.approx((55.0,))),
        "digits/mlp/standard/seed0": ((0.05, 0.1), pytest.approx((45.0, 15.0)))}
    assert notes == []


def test_eps_comes_from_the_threat_never_from_a_label(make_row):
    """Attack labels with spaces and norm-like words, an eps_display that is no number, a transfer
    attack and an unbounded threat: grouped by id, label, norm, targeted and transfer; x = threat.eps."""
    rows = [_robust_row(make_row, "standard", 0.9, [
        _attack("my pgd Linf 2", "L2", 0.5, 0.4, display="half"), _attack("my pgd Linf 2", "L2", 1.0, 0.2),
        _attack("pgd", "Linf", 0.1, 0.5, substitute="classics/mlp trained by classics/standard"),
        _attack("pgd", "Linf", 0.1, 0.3), _attack("square", "unbounded", None, 0.0)])]
    curves = {s.key: s for s in collect(rows)[0] if s.kind == "eps-curve"}
    assert sorted(curves) == [("robust", "classics/2", "my pgd Linf 2", "L2"), ("robust", "classics/pgd", "pgd", "Linf"),
                              ("robust", "classics/pgd", "pgd", "Linf transfer")]
    assert curves[("robust", "classics/2", "my pgd Linf 2", "L2")].series[0].x == (0.5, 1.0)
    assert curves[("robust", "classics/pgd", "pgd", "Linf transfer")].series[0].y == pytest.approx((50.0,))
    assert curves[("robust", "classics/pgd", "pgd", "Linf")].series[0].y == pytest.approx((30.0,))
    assert all(s.file != t.file for s in curves.values() for t in curves.values() if s is not t)


def test_plots_module_parses_no_label():
    source = (Path(plots.__file__)).read_text()
    for name in ("parse_robust_column", "parse_threat", "parse_eps", "row.robust", "row.ensemble", "Linf|L2"):
        assert name not in source, name


def test_no_worst_case_curve_for_a_single_attack(make_row):
    rows = [_robust_row(make_row, "standard", 0.9, [_attack("pgd", "Linf", 0.1, 0.2)],
                        [_worst("Linf", 0.1, 0.2, ["pgd"])])]
    kinds = [s.key for s in collect(rows)[0]]
    assert kinds == [("robust", "classics/pgd", "pgd", "Linf")]


def _drawn_segments(ax):
    """Every line segment drawn between two different points by a Line2D (markers alone draw none)."""
    segments = []
    for line in ax.lines:
        if line.get_linestyle() in ("None", "none", " ", ""):
            continue
        xs, ys = list(line.get_xdata()), list(line.get_ydata())
        segments += [((xs[i], ys[i]), (xs[i + 1], ys[i + 1])) for i in range(len(xs) - 1)]
    return segments


def _error_bars(ax):
    """(x, low, high) of every vertical error bar drawn, from the errorbar containers' line collections."""
    bars = []
    for container in ax.containers:
        for collection in container.lines[2]:
            bars += [(float(seg[0][0]), float(min(seg[0][1], seg[1][1])), float(max(seg[0][1], seg[1][1])))
                     for seg in collection.get_segments()]
    return sorted(bars)


def test_a_single_eps_is_a_point_with_its_error_bar_not_a_line(make_row):
    rows = [_robust_row(make_row, "standard", 0.9, [_attack("pgd", "Linf", 0.1, 0.2)])]
    (spec,) = collect(rows)[0]
    ax = render(spec).axes[0]
    assert _drawn_segments(ax) == []  # no line from clean accuracy (or anywhere) to the one measured point
    points = sorted((float(x), float(y)) for line in ax.lines if line.get_marker() in ("o", "s")
                    for x, y in zip(line.get_xdata(), line.get_ydata()))
    assert points == pytest.approx([(0.0, 90.0), (0.1, 20.0)])  # clean anchor and the measured point
    clean, robust = _percent(0.9), _percent(0.2)
    assert _error_bars(ax) == pytest.approx([(0.0, clean[1], clean[2]), (0.1, robust[1], robust[2])])


def test_lines_join_only_measured_eps(make_row):
    rows = [_robust_row(make_row, "standard", 0.9, [_attack("pgd", "Linf", 0.1, 0.2), _attack("pgd", "Linf", 0.05, 0.5)])]
    (spec,) = collect(rows)[0]
    ax = render(spec).axes[0]
    assert _drawn_segments(ax) == [((0.05, 50.0), (0.1, 20.0))]  # one segment, between the two attacks' eps
    assert len(_error_bars(ax)) == 3  # two measured points and the clean anchor


def test_render_hands_the_spec_to_matplotlib(make_row):
    rows = [_robust_row(make_row, "standard", 0.9, [_attack("pgd", "Linf", 0.1, 0.2), _attack("pgd", "Linf", 0.05, 0.5)]),
            _robust_row(make_row, "pgd-at", 0.8, [_attack("pgd", "Linf", 0.1, 0.6), _attack("pgd", "Linf", 0.05, 0.7)],
                        flags=("f",))]
    spec = collect(rows)[0][0]
    ax = render(spec).axes[0]
    labelled = {c.get_label(): c for c in ax.containers if not c.get_label().startswith("_")}
    assert sorted(labelled) == sorted(s.label for s in spec.series) and len(spec.series) == 2
    for series in spec.series:
        line, _, (bars,) = labelled[series.label].lines
        assert tuple(line.get_xdata()) == series.x and tuple(line.get_ydata()) == series.y
        assert line.get_linestyle() == ("--" if series.dashed else "-")
        assert [tuple(seg[:, 1]) for seg in bars.get_segments()] == pytest.approx(list(zip(series.low, series.high)))
    assert ax.get_ylim() == (0.0, 100.0)
    assert ax.get_xlabel() == "eps (Linf)" and ax.get_title() == spec.title


def test_histogram_from_known_arrays(make_row):
    row = make_row("standard", 0)
    edges = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    arrays = {row.row_id: {("probe", "margin"): {
        "hist_edges": edges, "test_hist_counts": np.array([1, 2, 3, 4]), "train_hist_counts": np.array([0, 0, 5, 15]),
        "test_margins": np.arange(10.0)}}}
    specs, notes = collect([row], arrays)
    (hist,) = [s for s in specs if s.kind == "histogram"]
    assert hist.style == "stairs" and hist.rows == (row.row_id,) and notes == []
    assert [s.label for s in hist.series] == ["test", "train"]
    assert hist.series[0].x == tuple(edges)
    assert hist.series[0].y == pytest.approx((0.1, 0.2, 0.3, 0.4))  # counts / their sum
    assert hist.series[1].y == pytest.approx((0.0, 0.0, 0.25, 0.75))
    ax = render(hist).axes[0]
    steps = ax.patches  # Axes.stairs draws one StepPatch per series
    assert len(steps) == 2
    values, drawn_edges, _ = steps[0].get_data()
    assert tuple(drawn_edges) == tuple(edges) and tuple(values) == pytest.approx((0.1, 0.2, 0.3, 0.4))
    data = to_png(hist)
    assert _size(data) == (640, 400)
    assert hist.file.startswith("plots/histogram-") and hist.file.endswith(".png")


def test_histograms_pair_counts_with_their_own_edges_and_report_bad_arrays(make_row):
    row = make_row("standard", 0)
    arrays = {row.row_id: {("probe", "confidence"): {
        "p_hist_edges": np.linspace(0, 1, 3), "p_hist_counts": np.array([3, 1]),
        "loss_hist_edges": np.linspace(0, 4, 5), "loss_hist_counts": np.array([1, 1, 1, 1]),
        "bad_hist_edges": np.array([0.0, 1.0]), "bad_hist_counts": np.array([1, 2, 3]),  # 3 counts, 2 edges
        "neg_hist_counts": np.array([1, -1]), "neg_hist_edges": np.array([0.0, 1.0, 2.0])}}}
    specs, notes = collect([row], arrays)
    hists = {s.key[-1]: s for s in specs if s.kind == "histogram"}
    assert sorted(hists) == ["loss_hist_edges", "p_hist_edges"]
    assert hists["p_hist_edges"].series[0].y == pytest.approx((0.75, 0.25))
    assert hists["loss_hist_edges"].xlabel == "confidence loss"
    assert len(notes) == 2 and all("no histogram" in n for n in notes)
    assert any("'bad_hist_counts'" in n and "3 counts need 4" in n for n in notes)


def test_per_layer_and_curve_arrays_overlay_rows(make_row):
    a, b = make_row("standard", 0), make_row("pgd-at", 0)
    arrays = {
        a.row_id: {("probe", "spectrum"): {"sv_std_per_layer": np.array([3.0, 2.0, 1.0]), "sv_std": np.ones(3)},
                   ("task", "inversion"): {"loss_curve": np.array([4.0, 2.0, 1.0, 0.5])}},
        b.row_id: {("probe", "spectrum"): {"sv_std_per_layer": np.array([1.0, 1.5])},
                   ("probe", "weights"): {"layer_norms": np.array([7.0])}},
    }
    specs, _ = collect([a, b], arrays)
    by_key = {s.key: s for s in specs if s.kind in ("per-layer", "curve")}
    assert sorted(by_key) == [("probe", "spectrum", "sv_std_per_layer"), ("probe", "weights", "layer_norms"),
                              ("task", "inversion", "loss_curve")]
    spectrum = by_key[("probe", "spectrum", "sv_std_per_layer")]
    assert [(s.row_id, s.x, s.y) for s in spectrum.series] == [
        (b.row_id, (1.0, 2.0), (1.0, 1.5)), (a.row_id, (1.0, 2.0, 3.0), (3.0, 2.0, 1.0))]
    assert spectrum.ylabel == "sv_std" and spectrum.xlabel == "layer"
    assert by_key[("probe", "weights", "layer_norms")].ylabel == "norms"
    curve = by_key[("task", "inversion", "loss_curve")]
    assert curve.series[0].x == (0.0, 1.0, 2.0, 3.0) and curve.xlabel == "step"


def _tasks(columns):
    return [MetricResult(kind="task", source_id="infotransfer/transfer", label="transfer", column=column, value=value)
            for column, value in columns.items()]


def test_column_families(make_row):
    a = make_row("standard", 0).model_copy(update={"task_results": _tasks({
        "gap@1": 0.5, "gap@0.5": 0.25, "gap@8/255": 0.1, "acc@svhn": 0.3, "acc@cifar": 0.6, "only@1": 1.0})})
    b = make_row("pgd-at", 0).model_copy(update={"task_results": _tasks({"gap@1": 0.7, "gap@0.5": None, "acc@svhn": 0.4})})
    specs, _ = collect([a, b])
    fam = {s.key: s for s in specs if s.kind == "column-family"}
    assert sorted(fam) == [("task", "transfer.acc"), ("task", "transfer.gap")]  # 'only' has a single x
    gap = fam[("task", "transfer.gap")]
    assert gap.style == "line" and gap.source == "task[transfer.gap@<x>]"
    series = {s.row_id: (s.x, s.y) for s in gap.series}
    assert series[a.row_id] == ((8 / 255, 0.5, 1.0), (0.1, 0.25, 0.5))
    assert series[b.row_id] == ((1.0,), (0.7,))
    acc = fam[("task", "transfer.acc")]
    assert acc.style == "bars"
    assert {s.row_id: (s.x, s.y) for s in acc.series} == {a.row_id: (("cifar", "svhn"), (0.6, 0.3)),
                                                          b.row_id: (("svhn",), (0.4,))}
    ax = render(acc).axes[0]
    assert sorted(p.get_height() for p in ax.patches) == pytest.approx([0.3, 0.4, 0.6])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cifar", "svhn"]


def test_png_is_byte_stable_and_has_no_software_entry():
    spec = PlotSpec(kind="curve", key=("probe", "p", "x_curve"), title="t", xlabel="x", ylabel="y",
                    series=(Series("a", (0.0, 1.0, 2.0), (1.0, 0.0, 2.0)),))
    first, second = to_png(spec), to_png(spec)
    assert first == second
    text = b"".join(payload for kind, payload in _png_chunks(first) if kind in (b"tEXt", b"iTXt", b"zTXt"))
    assert b"Software" not in text and b"matplotlib" not in text.lower()


def test_file_names_are_safe_and_distinct():
    names = {plots.file_stem("histogram", "a/b c<>", "x"), plots.file_stem("histogram", "a-b-c", "x"),
             plots.file_stem("histogram", "../../etc", "x")}
    assert len(names) == 3
    assert all("/" not in n and not n.startswith(".") and " " not in n for n in names)


def test_row_labels_drop_constant_parts(make_row):
    a, b = make_row("standard", 0), make_row("standard", 1)
    assert plots.row_labels([a, b]) == {a.row_id: "mlp/standard/seed0", b.row_id: "mlp/standard/seed1"}
    assert plots.row_labels([a]) == {a.row_id: "mlp/standard"}
