"""Certified accuracies beside empirical ones: frame columns, the row invariant and every rendering."""
from __future__ import annotations

import pytest

from bench.cli.tables import TableOptions, render_text, rows_view
from bench.errors import LeaderboardError
from bench.leaderboard.html import render_table
from bench.leaderboard.render import format_certified, to_csv, to_latex, to_markdown
from bench.rows.frame import find_columns, to_frame
from bench.rows.io import validate_row
from bench.rows.schema import Accuracy


def _certified(correct: int, empirical: int | None, violation: bool = False, classifier: str = "base",
               norm: str = "Linf", eps: float = 0.1, display: str = "0.1") -> dict:
    return {"source_id": "certify/ibp", "label": "ibp", "classifier": classifier,
            "threat": {"norm": norm, "eps": eps, "eps_display": display, "targeted": False},
            "accuracy": Accuracy.of(correct, 500).model_dump(),
            "empirical": None if empirical is None else Accuracy.of(empirical, 500).model_dump(),
            "empirical_source": None if empirical is None else "worst case over pgd, fgsm", "violation": violation}


def _row(row_dict, certified: list[dict], flags=()):
    data = row_dict(flags=flags)
    data["certified"] = certified
    return validate_row(data)


def test_frame_has_certified_and_empirical_columns_described_by_parameters(row_dict):
    row = _row(row_dict, [_certified(103, 228), _certified(40, None, norm="L2", eps=0.5, display="0.5")])
    frame = to_frame([row])
    (cert,) = find_columns(frame, "certified", norm="Linf", eps=0.1, classifier="base")
    (emp,) = find_columns(frame, "empirical", norm="Linf", eps=0.1)
    assert frame[cert].iloc[0] == 103 / 500 and frame[emp].iloc[0] == 228 / 500
    info = {i["column"]: i for i in frame.attrs["columns"]}
    assert info[cert]["partner"] == emp and info[emp]["partner"] == cert and info[cert]["id"] == "certify/ibp"
    assert frame.attrs["counts"][row.row_id][cert] == (103, 500)
    (emp_l2,) = find_columns(frame, "empirical", norm="L2")
    assert frame[emp_l2].isna().all()  # no attack at L2 0.5: no empirical partner


def test_renderings_show_the_interval_certified_empirical(row_dict):
    row = _row(row_dict, [_certified(103, 228)])
    assert format_certified(row, "certified[ibp Linf 0.1]") == "[20.6, 45.6]"
    md = to_markdown([row])
    assert "certified[ibp Linf 0.1] [certified, empirical] (%)" in md and "[20.6, 45.6]" in md
    assert "empirical[" not in md  # the partner is inside the certified cell
    assert "[20.6, 45.6]" in to_latex([row])
    csv_head = to_csv([row]).splitlines()[0].split(",")
    assert "certified[ibp Linf 0.1].correct" in csv_head and "empirical[ibp Linf 0.1].correct" in csv_head
    text = render_text(rows_view([row], TableOptions(width=200)), 200)
    assert "[20.6, 45.6]" in text and "[cert, emp]" in text  # in the default terminal view
    page = render_table([row])
    assert 'class="num certified"' in page and "[20.6, 45.6]" in page and "228/500 correct" in page


def test_a_violation_is_marked_and_must_agree_with_the_numbers_and_the_flags(row_dict):
    flag = "certified-exceeds-empirical:ibp Linf 0.1"
    row = _row(row_dict, [_certified(300, 228, violation=True)], flags=(flag,))
    assert format_certified(row, "certified[ibp Linf 0.1]") == "[60.0, 45.6] ✗"
    assert 'class="num certified violation"' in render_table([row])
    with pytest.raises(LeaderboardError, match="violation is False but certified 300/500 exceeds"):
        _row(row_dict, [_certified(300, 228, violation=False)])
    with pytest.raises(LeaderboardError, match="violation is True but certified 100/500 does not exceed"):
        _row(row_dict, [_certified(100, 228, violation=True)], flags=(flag,))
    with pytest.raises(LeaderboardError, match="must be flagged"):
        _row(row_dict, [_certified(300, 228, violation=True)])
    bad = _certified(100, 228)
    bad["empirical"] = Accuracy.of(50, 100).model_dump()
    with pytest.raises(LeaderboardError, match="certified over n = 500 but empirical over n = 100"):
        _row(row_dict, [bad])
