"""LaTeX export (booktabs tabular via tabulate): the table's values, escaping and shape."""
from __future__ import annotations

import argparse
import re

from bench.leaderboard.build import build_snapshot
from bench.cli.leaderboard_cmd import add_parser
from bench.leaderboard.render import export
from bench.rows.io import validate_row


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="robarena")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def _body(tex: str) -> list[list[str]]:
    """Cells of the data lines between \\midrule and \\bottomrule (split on unescaped '&')."""
    lines = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0].strip().splitlines()
    return [[c.strip() for c in re.split(r"(?<!\\)&", line.rstrip().removesuffix("\\\\"))] for line in lines]


def test_latex_holds_every_value(rows):
    tex = export(rows, "latex")
    assert tex.startswith("\\begin{tabular}") and tex.rstrip().endswith("\\end{tabular}")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    header = tex.split("\\toprule\n", 1)[1].split("\\midrule", 1)[0]
    assert "robust[pgd Linf 0.1] (\\%)" in header and "probe[margin.mean]" in header
    body = _body(tex)
    assert len(body) == 3 and {len(line) for line in body} == {4 + 6 + 1}
    by_defense = {line[1]: line for line in body}
    # model, defense, dataset, seed, clean, pgd, fgsm, ensemble, probe, task, flags; each accuracy with the
    # half-width of its 95 % Clopper-Pearson interval (of the fixture's n = 10,000: two decimals)
    pm = " $\\pm$ "
    assert by_defense["standard"] == ["mlp", "standard", "digits", "0", f"81.23{pm}0.78", f"45.67{pm}0.98",
                                      f"50.00{pm}0.98", f"45.67{pm}0.98", "0.125", "12.5", ""]
    assert by_defense["pgd-at"][0] == "mlp *" and by_defense["pgd-at"][-1] == "square\\_beats\\_whitebox"
    assert by_defense["pgd-at"][4:8] == [f"75.00{pm}0.86", f"60.00{pm}0.97", f"62.50{pm}0.96", f"60.00{pm}0.97"]
    assert by_defense["fgsm-at"][5] == "--" and by_defense["fgsm-at"][8] == "--"  # missing metrics


def test_latex_escapes_special_characters(row_dict):
    row = row_dict("a_b & c")
    row.update(model="net#1 50%", row_id="digits/net/ab/seed0")
    tex = export([validate_row(row)], "latex")
    (line,) = _body(tex)
    assert line[0] == "net\\#1 50\\%" and line[1] == "a\\_b \\& c"


def test_cli_exports_latex_and_snapshot_keeps_it(tmp_path, rows, capsys):
    path = build_snapshot(rows, "quick", "v1", root=tmp_path)
    assert run("leaderboard", "export", "quick", "v1", "--format", "latex", "--root", str(tmp_path)) == 0
    printed = capsys.readouterr().out
    assert printed == export(rows, "latex")
    assert (path / "rows.tex").read_text(encoding="utf-8") == printed
