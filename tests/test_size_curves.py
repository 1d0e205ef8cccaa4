"""Accuracy against perturbation size from stored minimal distances (bench.size_curves, robarena
size-curves), checked against what the runner stored: the clean accuracy at eps 0, each threat
cell's robust accuracy at its eps, monotonicity, intervals, the mean over seeds, the plot."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import pytest
from runner_helpers import tiny_suite

import bench
from bench.cli.main import main
from bench.errors import UsageError
from bench.runner.size_curves import COLUMNS, aggregate_size_curves, plot_size_curves

N = 60
EPS = [0.05, 0.1]  # 0.1 is a step of the search's grid (5 x 1/50), 0.05 is not
LABEL = "FGSM search w"


def _suite(name: str, beyond: bool, seeds: list[int]) -> dict:
    return tiny_suite(
        name=name, seeds=seeds, probes=[], integrity=False,
        attacks=[{"id": "classics/fgsm-search", "label": LABEL, "eps": EPS,
                  "params": {"steps": 50, "max_eps": 1.0, "distances_beyond_eps": beyond}},
                 {"id": "classics/fgsm", "label": "FGSM w", "eps": 0.1}],
        train={"epochs": 1, "batch_size": 32, "lr": 0.1}, eval={"n": N, "batch_size": 32})


_RUNS: dict[str, tuple[Path, object]] = {}


def _run(base: Path, name: str, beyond: bool, seeds: list[int]) -> tuple[Path, object]:
    """The finished run of the suite ``name`` (made once per test process)."""
    if name not in _RUNS or not _RUNS[name][0].is_dir():
        workdir = base / name
        result = bench.run(_suite(name, beyond, seeds), workdir=workdir,
                           plugins=("robarena_testkit", "classics"), device="cpu")
        assert not result.failures
        _RUNS[name] = (workdir, result)
    return _RUNS[name]


@pytest.fixture
def curves_run(tmp_path_factory, testkit):
    return _run(tmp_path_factory.getbasetemp(), "curves", True, [0, 1])


@pytest.fixture
def short_run(tmp_path_factory, testkit):
    return _run(tmp_path_factory.getbasetemp(), "short", False, [0])


def _cell(row, label: str, eps: float):
    (a,) = [a for a in row.attacks if a.label == label and a.threat.matches(eps=eps)]
    return a


def _at(frame, row_id: str, eps: float):
    (line,) = frame[(frame["row_id"] == row_id) & (frame["eps"] == eps)].itertuples()
    return line


def test_the_frame_has_one_line_per_row_and_eps(curves_run):
    workdir, result = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=LABEL)
    assert tuple(frame.columns) == COLUMNS
    assert sorted(frame["row_id"].unique()) == sorted(r.row_id for r in result.rows) and len(result.rows) == 2
    grid = sorted(frame["eps"].unique())
    assert len(frame) == 2 * len(grid)
    assert grid[0] == 0.0 and grid[-1] == 1.0  # 0 and the scan limit (max_eps)
    assert all(any(math.isclose(g, e) for g in grid) for e in EPS)
    assert frame.attrs["exact_steps"] and frame.attrs["limit"] == 1.0 and frame.attrs["note"] == ""
    assert set(frame.attrs["cells"].values()) == {f"{LABEL} Linf 0.1"}  # the largest eps's cell
    assert (frame["n"] == N).all()


def test_eps_zero_is_clean_and_each_threat_eps_is_the_stored_robust_count(curves_run):
    workdir, result = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=LABEL)
    for row in result.rows:
        assert _at(frame, row.row_id, 0.0).robust == row.clean.correct
        for eps in EPS:
            line = _at(frame, row.row_id, eps)
            assert line.robust == _cell(row, LABEL, eps).accuracy.correct
            assert line.accuracy == _cell(row, LABEL, eps).accuracy.value
        # the search's candidates include the single step of length 0.1: never more robust than it
        assert _at(frame, row.row_id, 0.1).robust <= _cell(row, "FGSM w", 0.1).accuracy.correct


def test_the_curve_is_a_non_increasing_step_function_with_intervals_around_it(curves_run):
    workdir, _ = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=LABEL)
    for _row_id, g in frame.groupby("row_id"):
        g = g.sort_values("eps")
        assert (g["robust"].diff().dropna() <= 0).all()
        assert g["robust"].iloc[0] > g["robust"].iloc[-1]  # the attack fools something on the way
    assert ((frame["ci_low"] <= frame["accuracy"]) & (frame["accuracy"] <= frame["ci_high"])).all()
    assert (frame["accuracy"] == frame["robust"] / frame["n"]).all()


def test_a_given_grid_is_used_as_given_and_cut_at_the_scan_limit(curves_run):
    workdir, result = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=LABEL, eps=[0.1, 0.0, 0.05, 2.0])
    assert sorted(frame["eps"].unique()) == [0.0, 0.05, 0.1]
    assert "2" in frame.attrs["note"] and "scan limit 1" in frame.attrs["note"]
    full = bench.size_curves("curves", workdir=workdir, attack=LABEL)
    for row in result.rows:
        for eps in (0.0, 0.05, 0.1):
            assert _at(frame, row.row_id, eps).robust == _at(full, row.row_id, eps).robust
    with pytest.raises(UsageError, match="scan limit"):
        bench.size_curves("curves", workdir=workdir, attack=LABEL, eps=[3.0])


def test_a_column_names_one_cell(curves_run):
    workdir, result = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=f"{LABEL} Linf 0.05", eps=EPS)
    assert set(frame.attrs["cells"].values()) == {f"{LABEL} Linf 0.05"}
    for row in result.rows:  # distances_beyond_eps: every cell holds the same distances
        for eps in EPS:
            assert _at(frame, row.row_id, eps).robust == _cell(row, LABEL, eps).accuracy.correct


def test_the_mean_over_seeds(curves_run):
    workdir, _ = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=LABEL)
    agg = aggregate_size_curves(frame)
    assert (agg["n_seeds"] == 2).all()
    assert len(agg) == frame["eps"].nunique()
    for line in agg.itertuples():
        values = frame[frame["eps"] == line.eps]["accuracy"].tolist()
        assert len(values) == 2
        assert line.mean == pytest.approx(sum(values) / 2, abs=1e-12)
        assert line.min == min(values) and line.max == max(values)
        assert line.std == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2), abs=1e-12)


def test_the_plot_is_a_png(curves_run, tmp_path):
    workdir, _ = curves_run
    frame = bench.size_curves("curves", workdir=workdir, attack=LABEL)
    for band in ("minmax", "std"):
        path = plot_size_curves(frame, tmp_path / f"curves-{band}.png", band=band)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    path = plot_size_curves(aggregate_size_curves(frame), tmp_path / "agg.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_attacks_and_attacks_without_distances_are_clear_errors(curves_run):
    workdir, _ = curves_run
    with pytest.raises(UsageError, match=r"no attack labelled 'PGD'.*'FGSM search w'"):
        bench.size_curves("curves", workdir=workdir, attack="PGD")
    with pytest.raises(UsageError, match="name the attack"):
        bench.size_curves("curves", workdir=workdir)
    with pytest.raises(UsageError, match=r"stores no per-example distances.*distances_beyond_eps = true"):
        bench.size_curves("curves", workdir=workdir, attack="FGSM w")


def test_a_scan_that_stopped_at_eps_cuts_the_curve_there(short_run):
    workdir, result = short_run
    frame = bench.size_curves("short", workdir=workdir, attack=LABEL)
    (row,) = result.rows
    assert max(frame["eps"]) == 0.1 and frame.attrs["limit"] == 0.1
    assert "distances_beyond_eps = false" in frame.attrs["note"]
    for eps in EPS:
        assert _at(frame, row.row_id, eps).robust == _cell(row, LABEL, eps).accuracy.correct
    assert _at(frame, row.row_id, 0.0).robust == row.clean.correct
    cut = bench.size_curves("short", workdir=workdir, attack=LABEL, eps=[0.05, 0.5])
    assert sorted(cut["eps"].unique()) == [0.05] and "0.5" in cut.attrs["note"]


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_prints_writes_csv_and_plot(curves_run, tmp_path, capsys):
    import pandas as pd

    workdir, result = curves_run
    csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    code, out, err = _cli(["size-curves", "curves", "--attack", LABEL, "--workdir", str(workdir),
                           "--csv", str(csv), "--plot", str(png)], capsys)
    assert code == 0, err
    assert "tiny-linear/erm" in out and "0.1" in out and "±" in out
    back = pd.read_csv(csv)
    assert tuple(back.columns) == COLUMNS and len(back) == len(bench.size_curves("curves", workdir=workdir,
                                                                                  attack=LABEL))
    assert png.read_bytes()[:4] == b"\x89PNG"
    code, out, err = _cli(["size-curves", "curves", "--attack", LABEL, "--workdir", str(workdir),
                           "--eps", "0,0.05,1/10", "--seeds"], capsys)
    assert code == 0, err
    for row in result.rows:
        (line,) = [x for x in out.splitlines() if x.startswith(row.row_id)]
        want: list[Optional[float]] = [row.clean.value, *(_cell(row, LABEL, e).accuracy.value for e in EPS)]
        assert line.split()[2:] == [f"{100 * v:.1f}" for v in want]
    code, _out, err = _cli(["size-curves", "curves", "--attack", "FGSM w", "--workdir", str(workdir)], capsys)
    assert code == 2 and "distances_beyond_eps = true" in err
    code, _out, err = _cli(["size-curves", "curves", "--attack", LABEL, "--workdir", str(workdir),
                            "--eps", "0,x"], capsys)
    assert code == 2 and "--eps" in err
