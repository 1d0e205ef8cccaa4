"""Every export shows each accuracy with the 95 % Clopper–Pearson interval of the row's counts.

The reference interval is computed here from its definition, the beta quantiles
``[Beta(0.025; k, n - k + 1), Beta(0.975; k + 1, n - k)]`` (0 and 1 at k = 0 and k = n), not
through bench.stats, and checked against textbook values first.
"""
from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from scipy.stats import beta

from bench.leaderboard.html import render_index
from bench.leaderboard.render import export, render_readme
from bench.rows.io import validate_row
from bench.rows.schema import Accuracy

N = 500
COUNTS = {"clean": 467, "robust[pgd Linf 0.1]": 244, "robust[fgsm Linf 0.1]": 409, "ensemble[Linf 0.1]": 244}


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    low = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
    return float(low), float(high)


def shown(k: int, n: int, digits: int) -> str:
    """'48.8 ± 4.5': the percentage and the larger distance to an end of the interval."""
    low, high = clopper_pearson(k, n)
    value = k / n
    return f"{100 * value:.{digits}f} ± {100 * max(value - low, high - value):.{digits}f}"


def test_reference_interval_matches_textbook_values():
    # Clopper & Pearson / Agresti & Coull (1998): 95 % exact intervals
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 0.3085), abs=1e-4)
    assert clopper_pearson(5, 10) == pytest.approx((0.1871, 0.8129), abs=1e-4)
    assert clopper_pearson(10, 10) == pytest.approx((0.6915, 1.0), abs=1e-4)
    assert shown(244, 500, 1) == "48.8 ± 4.5"


@pytest.fixture
def row(row_dict):
    """A row whose accuracies are counts of 500 examples (one decimal resolves one example)."""
    data = row_dict()
    data["clean"] = Accuracy.of(COUNTS["clean"], N).model_dump()
    data["attacks"][0]["accuracy"] = Accuracy.of(COUNTS["robust[pgd Linf 0.1]"], N).model_dump()
    data["attacks"][1]["accuracy"] = Accuracy.of(COUNTS["robust[fgsm Linf 0.1]"], N).model_dump()
    data["worst_case"][0]["accuracy"] = Accuracy.of(COUNTS["ensemble[Linf 0.1]"], N).model_dump()
    return validate_row(data)


def test_stored_interval_is_clopper_pearson(row):
    for column, acc in row.accuracies().items():
        assert (acc.low, acc.high) == pytest.approx(clopper_pearson(COUNTS[column], N), abs=1e-9), column


def _md_cells(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    header, body = ([c.strip() for c in line.strip("|").split("|")] for line in lines[:2])
    return dict(zip(header, body))


def test_markdown_and_readme(row):
    for text in (export([row], "md"), render_readme([row], "quick", "v1", "now").split("## Results", 1)[1]):
        cells = _md_cells(text)
        for column, k in COUNTS.items():
            assert cells[f"{column} (%)"] == shown(k, N, 1), column


def test_latex(row):
    tex = export([row], "latex")
    lines = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0].strip().splitlines()
    header = [c.strip() for c in tex.split("\\toprule\n", 1)[1].split("\\midrule", 1)[0].strip()
              .removesuffix("\\\\").split("&")]
    cells = dict(zip(header, [c.strip() for c in re.split(r"(?<!\\)&", lines[0].rstrip().removesuffix("\\\\"))]))
    for column, k in COUNTS.items():
        assert cells[f"{column} (\\%)"] == shown(k, N, 1).replace("±", "$\\pm$"), column


class _Cells(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.columns: list[str] = []
        self.cells: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "th" and "data-column" in attrs:
            self.columns.append(attrs["data-column"])
        elif tag == "td":
            self.cells.append({**attrs, "text": ""})

    def handle_data(self, data):
        if self.cells:
            self.cells[-1]["text"] += data


def test_html(row):
    page = _Cells(render_index([row], suite="quick", version="v1", created="now"))
    cells = dict(zip(page.columns, page.cells))
    for column, k in COUNTS.items():
        cell, (low, high) = cells[column], clopper_pearson(k, N)
        assert cell["text"] == shown(k, N, 1), column
        assert (int(cell["data-correct"]), int(cell["data-n"])) == (k, N)
        assert (float(cell["data-low"]), float(cell["data-high"])) == pytest.approx((low, high), abs=1e-9)
        assert cell["title"] == (f"{k}/{N} correct, 95 % Clopper-Pearson interval "
                                 f"[{100 * low:.2f}, {100 * high:.2f}] %")


def test_csv(row):
    frame = pd.read_csv(io.StringIO(export([row], "csv")))
    for column, k in COUNTS.items():
        low, high = clopper_pearson(k, N)
        assert frame.loc[0, column] == k / N
        assert (frame.loc[0, f"{column}.correct"], frame.loc[0, f"{column}.n"]) == (k, N)
        assert (frame.loc[0, f"{column}.low"], frame.loc[0, f"{column}.high"]) == pytest.approx((low, high), abs=1e-9)


def test_jsonl_is_the_row(row):
    assert validate_row(json.loads(export([row], "jsonl"))) == row
