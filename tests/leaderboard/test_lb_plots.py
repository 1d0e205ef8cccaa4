"""Plots found by naming conventions: the numbers handed to matplotlib, and the PNG files."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from bench.leaderboard import plots
from bench.leaderboard.plots import PlotSpec, Series, collect, parse_robust_column, parse_threat, render, to_png


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


@pytest.mark.parametrize("label, expected", [
    ("Linf 0.1", ("Linf", 0.1, False)),
    ("Linf 8/255", ("Linf", 8 / 255, False)),
    ("L2 0.5 targeted", ("L2", 0.5, True)),
    ("L2 1e-3", ("L2", 1e-3, False)),
    ("unbounded", None), ("unbounded targeted", None), ("Linf inf", None), ("Linf abc", None), ("L1 0.1", None),
])
def test_parse_threat(label, expected):
    assert parse_threat(label) == expected


def test_parse_robust_column_keeps_spaces_in_attack_labels():
    assert parse_robust_column("pgd Linf 0.1") == ("pgd", "Linf", 0.1, False)
    assert parse_robust_column("my pgd Linf 2 L2 0.5 targeted") == ("my pgd Linf 2", "L2", 0.5, True)
    assert parse_robust_column("square unbounded") is None


def _robust_row(make_row, defense, clean, robust, ensemble=None, flags=()):
    row = make_row(defense, 0, clean=clean, flags=flags)
    return row.model_copy(update={"robust": robust, "ensemble": ensemble or {}})


def test_eps_curves_carry_the_rows_numbers(make_row):
    rows = [
        _robust_row(make_row, "standard", 0.9, {"pgd Linf 0.1": 0.2, "pgd Linf 0.05": 0.5, "pgd Linf 8/255": 0.6,
                                               "fgsm Linf 0.1": 0.3, "pgd L2 0.5 targeted": 0.7},
                    {"Linf 0.1": 0.15, "Linf 0.05": 0.45}),
        _robust_row(make_row, "pgd-at", 0.8, {"pgd Linf 0.1": 0.6, "pgd Linf 0.05": None, "fgsm Linf 0.1": 0.65},
                    {"Linf 0.1": 0.55}, flags=("non-monotone-eps:pgd Linf",)),
    ]
    specs, notes = collect(rows)
    curves = {s.key: s for s in specs if s.kind == "eps-curve"}
    assert sorted(curves) == [("ensemble", "worst case", "Linf"), ("robust", "fgsm", "Linf"),
                              ("robust", "pgd", "L2 targeted"), ("robust", "pgd", "Linf")]
    pgd = curves[("robust", "pgd", "Linf")]
    assert pgd.source == "robust[pgd Linf <eps>]" and pgd.ylim == (0.0, 100.0)
    by_row = {s.row_id: s for s in pgd.series}
    std, at = by_row["digits/mlp/standard/seed0"], by_row["digits/mlp/pgd-at/seed0"]
    # clean accuracy at eps 0, then the eps values sorted numerically ("8/255" = 0.0314 sorts first), in percent
    assert std.x == (0.0, 8 / 255, 0.05, 0.1)
    assert std.y == pytest.approx((90.0, 60.0, 50.0, 20.0), abs=1e-12)
    assert at.x == (0.0, 0.1) and at.y == pytest.approx((80.0, 60.0))  # the missing 0.05 point is left out
    assert at.dashed and not std.dashed and at.label.endswith("(flagged)")
    assert at.color != std.color
    targeted = curves[("robust", "pgd", "L2 targeted")]
    assert [(s.x, s.y) for s in targeted.series] == [((0.0, 0.5), pytest.approx((90.0, 70.0)))]
    worst = curves[("ensemble", "worst case", "Linf")]
    assert {s.row_id: s.y for s in worst.series} == {
        "digits/mlp/pgd-at/seed0": pytest.approx((80.0, 55.0)),
        "digits/mlp/standard/seed0": pytest.approx((90.0, 45.0, 15.0))}
    assert notes == []


def test_no_worst_case_curve_for_a_single_attack(make_row):
    rows = [_robust_row(make_row, "standard", 0.9, {"pgd Linf 0.1": 0.2}, {"Linf 0.1": 0.2})]
    kinds = [s.key for s in collect(rows)[0]]
    assert kinds == [("robust", "pgd", "Linf")]


def test_render_hands_the_spec_to_matplotlib(make_row):
    rows = [_robust_row(make_row, "standard", 0.9, {"pgd Linf 0.1": 0.2, "pgd Linf 0.05": 0.5}),
            _robust_row(make_row, "pgd-at", 0.8, {"pgd Linf 0.1": 0.6, "pgd Linf 0.05": 0.7}, flags=("f",))]
    spec = collect(rows)[0][0]
    ax = render(spec).axes[0]
    assert len(ax.lines) == len(spec.series) == 2
    for line, series in zip(ax.lines, spec.series):
        assert tuple(line.get_xdata()) == series.x and tuple(line.get_ydata()) == series.y
        assert line.get_label() == series.label
        assert line.get_linestyle() == ("--" if series.dashed else "-")
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


def test_column_families(make_row):
    a = make_row("standard", 0).model_copy(update={"tasks": {"transfer.gap@1": 0.5, "transfer.gap@0.5": 0.25,
                                                              "transfer.gap@8/255": 0.1, "transfer.acc@svhn": 0.3,
                                                              "transfer.acc@cifar": 0.6, "transfer.only@1": 1.0}})
    b = make_row("pgd-at", 0).model_copy(update={"tasks": {"transfer.gap@1": 0.7, "transfer.gap@0.5": None,
                                                            "transfer.acc@svhn": 0.4}})
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
