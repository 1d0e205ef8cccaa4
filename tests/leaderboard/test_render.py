"""Rendering: README percentages and flags, CSV/LaTeX/JSON-lines exports parse back to the numbers."""
from __future__ import annotations

import io
import json
import math
import re

import pandas as pd
import pytest

from bench.errors import LeaderboardError
from bench.leaderboard.build import build_snapshot
from bench.leaderboard.render import (export, format_accuracy, format_value, render_readme, to_csv, to_jsonl,
                                      to_latex, to_markdown)
from bench.rows.schema import Accuracy

METRICS = ["clean", "robust[pgd Linf 0.1]", "robust[fgsm Linf 0.1]", "ensemble[Linf 0.1]",
           "probe[margin.mean]", "task[transfer.loss]"]
ACCURACIES = METRICS[:4]
# 95 % Clopper-Pearson intervals of the fixture's counts (of n = 10,000), in percent, two decimals
# (one example is 0.01 points): value ± the larger distance to an end of the interval
CP = {8123: "81.23 ± 0.78", 4567: "45.67 ± 0.98", 5000: "50.00 ± 0.98", 7500: "75.00 ± 0.86",
      6000: "60.00 ± 0.97", 6250: "62.50 ± 0.96", 7000: "70.00 ± 0.91", 2500: "25.00 ± 0.86"}


def _md_table(text: str) -> list[list[str]]:
    """Cells of the first GitHub markdown table in ``text`` (header first, separator dropped)."""
    table: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            if table:
                break
            continue
        if set(line) <= set("|-: "):
            continue
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


def test_format_value():
    assert format_value("clean", 0.8123) == "81.23"
    assert format_value("robust[pgd Linf 0.1]", 0.4567) == "45.67"
    assert format_value("ensemble[Linf 0.1]", 1.0) == "100.00"
    assert format_value("probe[margin.mean]", 0.123456) == "0.1235"
    assert format_value("task[x]", None) == "—"


def test_format_accuracy_known_intervals():
    # Clopper-Pearson 95 %: 5/10 -> [18.71, 81.29] %, 0/10 -> [0, 30.85] %, 244/500 -> [44.34, 53.28] %
    assert format_accuracy(Accuracy.of(5, 10)) == "50.0 ± 31.3"
    assert format_accuracy(Accuracy.of(5, 10), style="bracket", digits=2) == "[18.71, 81.29]"
    assert format_accuracy(Accuracy.of(0, 10)) == "0.0 ± 30.8"
    assert format_accuracy(Accuracy.of(244, 500)) == "48.8 ± 4.5"  # one decimal resolves one of 500
    assert format_accuracy(Accuracy.of(4567, 10_000)) == "45.67 ± 0.98"  # two decimals for 10,000
    assert format_accuracy(None) == "—" and format_accuracy(Accuracy.of(0, 0)) == "n/a"


def test_readme_table_shows_percentages(rows):
    readme = render_readme(rows, "quick", "v1", "2024-06-02T08:00:00Z")
    table = _md_table(readme.split("## Results", 1)[1])
    header, body = table[0], table[1:]
    assert header[:5] == ["model", "defense", "dataset", "seed", "clean (%)"]
    assert header[-1] == "flags"
    by_defense = {line[1]: dict(zip(header, line)) for line in body}
    assert by_defense["standard"]["clean (%)"] == CP[8123]
    assert by_defense["standard"]["robust[pgd Linf 0.1] (%)"] == CP[4567]
    assert by_defense["standard"]["ensemble[Linf 0.1] (%)"] == CP[4567]  # min(0.4567, 0.5)
    assert by_defense["pgd-at"]["robust[fgsm Linf 0.1] (%)"] == CP[6250]
    assert by_defense["standard"]["probe[margin.mean]"] == "0.125"  # not a percentage
    assert by_defense["fgsm-at"]["robust[pgd Linf 0.1] (%)"] == "—"  # failed cell
    assert [line[1] for line in body] == ["fgsm-at", "pgd-at", "standard"]  # sorted by row_id


def test_flagged_rows_are_marked(rows):
    readme = render_readme(rows, "quick", "v1", "now")
    body = {line[1]: line for line in _md_table(readme.split("## Results", 1)[1])[1:]}
    assert body["pgd-at"][0] == "mlp ⚠" and body["pgd-at"][-1] == "square_beats_whitebox"
    assert body["standard"][0] == "mlp" and body["standard"][-1] == ""
    assert "- Rows: 3 (1 flagged, 1 with errors)" in readme


def test_readme_errors_and_provenance(rows, make_row):
    moved = make_row("trades", 2, plugins={"robarena-classics": "0.2.0", "robarena-p3": "1.0"},
                     core_version="0.2.0", specs={"classics/pgd": "2"})
    readme = render_readme(rows + [moved], "quick", "v1", "now")
    errors = readme.split("## Errors", 1)[1].split("## Provenance", 1)[0]
    assert "- `digits/mlp/fgsm-at/seed1`: attack classics/pgd: RuntimeError: out of memory" in errors
    prov = readme.split("## Provenance", 1)[1]
    assert "- Core version: 0.1.0, 0.2.0" in prov
    plugins = dict(_md_table(prov.split("### Plugin distributions")[1].split("###")[0])[1:])
    assert plugins == {"robarena-classics": "0.1.0, 0.2.0", "robarena-p3": "1.0"}
    specs = dict(_md_table(prov.split("### Spec versions")[1])[1:])
    assert specs == {"classics/fgsm": "1", "classics/mlp": "1", "classics/pgd": "1, 2"}


def test_readme_without_errors_or_rows():
    readme = render_readme([], "quick", "v0", "now")
    assert "No rows." in readme and "## Errors\n\nNone." in readme


def test_csv_parses_back_exactly(rows):
    count_columns = [f"{c}.{f}" for c in ACCURACIES for f in ("correct", "n", "low", "high")]
    frame = pd.read_csv(io.StringIO(to_csv(rows)), keep_default_na=False,
                        na_values={c: [""] for c in METRICS + count_columns})
    assert len(frame) == 3
    header = list(frame.columns)
    for column in ACCURACIES:  # each accuracy's count and interval right beside its value
        at = header.index(column)
        assert header[at:at + 5] == [column] + [f"{column}.{f}" for f in ("correct", "n", "low", "high")]
    by_id = frame.set_index("row_id")
    for row in rows:
        values, accuracies = row.metric_columns(), row.accuracies()
        for column in METRICS:
            got = by_id.loc[row.row_id, column]
            assert (math.isnan(got) if values[column] is None else got == values[column]), (row.row_id, column)
        for column in ACCURACIES:
            acc = accuracies[column]
            for field in ("correct", "n", "low", "high"):
                got = by_id.loc[row.row_id, f"{column}.{field}"]
                assert (math.isnan(got) if acc is None else got == getattr(acc, field)), (row.row_id, column, field)
        assert by_id.loc[row.row_id, "flags"] == ";".join(row.flags)
        assert by_id.loc[row.row_id, "prov.config_hash"] == row.provenance.config_hash
        assert by_id.loc[row.row_id, "prov.n"] == 500
    assert by_id.loc["digits/mlp/standard/seed0", "clean"] == 0.8123
    assert by_id.loc["digits/mlp/standard/seed0", "clean.correct"] == 8123
    assert by_id.loc["digits/mlp/standard/seed0", "clean.n"] == 10_000
    assert ",8123,10000," in to_csv(rows)  # counts are written as integers, not 8123.0


def test_csv_joins_multiple_flags(make_row):
    frame = pd.read_csv(io.StringIO(to_csv([make_row(flags=("zero_grad", "randomized_output"))])))
    assert frame.loc[0, "flags"] == "zero_grad;randomized_output"


def test_latex_parses_back(rows):
    tex = to_latex(rows)
    assert tex.startswith("\\begin{tabular}") and "\\toprule" in tex and tex.rstrip().endswith("\\end{tabular}")
    header_line, body = tex.split("\\midrule")[0].split("\\toprule")[1], tex.split("\\midrule")[1].split("\\bottomrule")[0]

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().rstrip("\\").split("&")]

    header = cells(header_line)
    assert header[4] == "clean (\\%)"
    parsed = {c[1]: dict(zip(header, c)) for c in map(cells, body.strip().splitlines())}
    assert parsed["standard"]["clean (\\%)"] == CP[8123].replace("±", "$\\pm$")
    assert parsed["pgd-at"]["robust[pgd Linf 0.1] (\\%)"] == CP[6000].replace("±", "$\\pm$")
    assert parsed["fgsm-at"]["robust[pgd Linf 0.1] (\\%)"] == "--"
    assert parsed["pgd-at"]["model"] == "mlp *"
    assert parsed["pgd-at"]["flags"] == "square\\_beats\\_whitebox"  # escaped for LaTeX


def test_jsonl_and_markdown_exports(rows):
    lines = to_jsonl(rows).splitlines()
    assert [json.loads(line)["clean"]["value"] for line in lines] == [0.7, 0.75, 0.8123]
    assert [json.loads(line)["schema_version"] for line in lines] == ["2"] * 3
    assert export(rows, "md") == to_markdown(rows) + "\n"
    with pytest.raises(LeaderboardError, match="unknown export format 'xls'; choose one of csv, jsonl, md, latex"):
        export(rows, "xls")


def test_markdown_escapes_pipes(make_row):
    table = to_markdown([make_row("a|b")])
    assert "a\\|b" in table
    header, line = [re.split(r"(?<!\\)\|", ln.strip("|")) for ln in table.splitlines()[::2]]
    assert len(header) == len(line)  # the escaped pipe does not open a column


def test_snapshot_csv_matches_export(tmp_path, rows):
    path = build_snapshot(rows, "quick", "v1", root=tmp_path)
    assert (path / "rows.csv").read_text(encoding="utf-8") == to_csv(rows)
