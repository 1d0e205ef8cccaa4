"""No code outside the rendering edge parses a result label (issue 14).

Result labels (``robust[pgd Linf 8/255]``, ``ensemble[Linf 8/255]``, ``probe[margin.mean]``,
``task[transfer.far.accuracy]``, and the suite's defense / model labels) are produced for display
by :mod:`bench.rows.labels` and :mod:`bench.rows.frame`. Code that needs a number selects it by
parameters (:func:`bench.api.claim.robust_column`, :func:`bench.api.claim.metric_column`,
:func:`bench.api.claim.select_where`, :meth:`bench.rows.schema.Row.attack`); a label-reading
claim turns "not checked" (or worse, compares the wrong rows) when a suite renames an entry.

This test scans every module of ``bench/`` and of the plugins' packages for the ways labels were
taken apart before the port (each pattern below is checked against verbatim lines of that code),
with an allow-list of the rendering edge.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_LABEL = r"(?:robust|ensemble|probe|task)"
_QUOTE = r"""[rbfuRBFU]*["']"""

#: name -> pattern over one source line
PATTERNS: dict[str, re.Pattern] = {
    "startswith a label prefix": re.compile(rf"\.startswith\(\s*\(?\s*{_QUOTE}{_LABEL}\["),
    "label prefix concatenated": re.compile(rf"{_QUOTE}{_LABEL}\[[^\]\"']*[\"']\s*\+"),
    "column_like": re.compile(r"\bcolumn_like\("),
    "parse_robust_column": re.compile(r"\bparse_robust_column\b"),
    "regex over a label": re.compile(rf"{_LABEL}\\\["),
    "label prefix sliced off": re.compile(rf"len\(\s*{_QUOTE}{_LABEL}\["),
    "open label prefix": re.compile(rf"{_QUOTE}{_LABEL}\[[^\]\"'{{}}]*[\"']"),
    "open label prefix (f-string)": re.compile(rf"\b[fF][\"']{_LABEL}\[[^\]\"']*[\"']"),
    "hard-coded metric label": re.compile(rf"{_QUOTE}(?:probe|task)\[[\w\-]+\.[\w@./\-]+\][\"']"),
    "eps parsed out of a name": re.compile(r"parse_eps\([^)]*(?:\.group\(|\[len\()"),
    "rows selected by label": re.compile(r"\b(?:select|value|optional_value)\(.*\b(?:defense|model|dataset)\s*="),
    "threat label parsed": re.compile(r"re\.compile\(.*(?:Linf\|L2|L2\|Linf)"),
}
#: plugins render no leaderboard labels at all: any string that starts like one is a lookup by label
PLUGIN_PATTERNS: dict[str, re.Pattern] = {
    "result label built in a plugin": re.compile(rf"{_QUOTE}{_LABEL}\["),
}

#: the rendering edge: modules that produce labels, or read old label-keyed snapshots
EDGE = {
    "bench/rows/labels.py": "produces the labels",
    "bench/rows/legacy.py": "reads schema-1 snapshots, which hold only labels",
    "bench/rows/frame.py": "names the frame's columns and tells accuracy columns from the rest for display",
}
#: single lines outside the edge that only format what they show: (path, line fragment, reason)
FORMATTING = [
    ("bench/cli/tables.py", "'probe[margin.*'", "help text of --columns"),
    ("bench/cli/tables.py", 'c.startswith("ensemble[") for c in chosen', "adds the worst-case legend line"),
    ("bench/runner/compare.py", 'metric.startswith(("robust[", "ensemble["))', "prints accuracies in %"),
]


def scan(text: str, plugin: bool = False) -> list[tuple[int, str, str]]:
    """(line number, pattern name, line) for every line of ``text`` a pattern flags."""
    patterns = {**PATTERNS, **(PLUGIN_PATTERNS if plugin else {})}
    return [(no, name, line.strip()) for no, line in enumerate(text.splitlines(), 1)
            for name, pattern in patterns.items() if pattern.search(line)]


def modules() -> list[Path]:
    found = sorted((ROOT / "bench").rglob("*.py"))
    for package in sorted((ROOT / "plugins").glob("*/robarena_*")):
        found += sorted(package.rglob("*.py"))
    return found


def _allowed(rel: str, line: str) -> bool:
    return rel in EDGE or any(rel == path and fragment in line for path, fragment, _ in FORMATTING)


def test_no_module_outside_the_rendering_edge_parses_result_labels():
    assert len(modules()) > 100  # the scan sees the tree
    found = []
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        for no, name, line in scan(path.read_text(encoding="utf-8"), plugin=rel.startswith("plugins/")):
            if not _allowed(rel, line):
                found.append(f"{rel}:{no}: {name}: {line}")
    assert not found, ("result labels are parsed outside the rendering edge; select by parameters "
                       "(bench.api.claim.robust_column, metric_column, select_where) instead:\n" + "\n".join(found))


def test_every_formatting_allowance_is_still_needed():
    for path, fragment, reason in FORMATTING:
        lines = [line for _, _, line in scan((ROOT / path).read_text(encoding="utf-8"))]
        assert any(fragment in line for line in lines), f"{path}: {fragment!r} ({reason}) no longer flagged; drop it"


# Lines of the code before the port (verbatim from the plugins' claims, margins' std_difference and
# bench/leaderboard/plots.py at 68e5e28, except the one marked): each must be caught, and by the
# pattern named.
BEFORE_THE_PORT = [
    ("plugins/margins/robarena_margins/claims.py", 'pgd = [c for c in frame.columns if c.startswith("robust[PGD")]',
     "startswith a label prefix"),
    ("plugins/margins/robarena_margins/claims.py", "found.append((parse_eps(match.group(1))[0], label))",
     "eps parsed out of a name"),
    ("plugins/margins/robarena_margins/claims.py",
     "values = [value(rows, column, defense=label) for _, label in points]", "rows selected by label"),
    ("plugins/margins/robarena_margins/claims.py", 'GAP = "probe[generalization.loss_gap]"', "hard-coded metric label"),
    ("plugins/margins/robarena_margins/claims.py", 'VARIATION_PREFIX = "probe[loss-variation.mean@"',
     "open label prefix"),
    ("plugins/margins/robarena_margins/claims.py", "picked = select(rows, defense=label)", "rows selected by label"),
    ("plugins/margins/robarena_margins/std_difference.py", 'prefix = f"probe[{probe}.{STD_PREFIX}"',
     "open label prefix (f-string)"),
    ("plugins/disentangle/robarena_disentangle/claims.py",
     'columns = {"clean": "clean", "PGD-20": column_like(frame, "robust[PGD-20 "), '
     '"CW": column_like(frame, "robust[CW ")}', "column_like"),
    ("plugins/disentangle/robarena_disentangle/claims.py",
     "return sorted((parse_eps(c[len(APPROX_PREFIX):-1])[0], value(frame, c, model=model, defense=TRADES))",
     "eps parsed out of a name"),
    ("plugins/guessfirst/robarena_guessfirst/claims.py",
     r'WHITE_PGD = re.compile(r"^robust\[PGD w (Linf|L2) [^\]]+\]$")', "regex over a label"),
    ("plugins/guessfirst/robarena_guessfirst/claims.py", 'return column[len("robust["):-1]', "label prefix sliced off"),
    ("plugins/guessfirst/robarena_guessfirst/claims.py",
     'for col in (c for c in frame.columns if c.startswith("ensemble[")):', "startswith a label prefix"),
    ("plugins/recognizability/robarena_recognizability/claims.py",
     r'PROFILE = re.compile(r"^robust\[profile Linf (?P<eps>[^\]]+)\]$")', "regex over a label"),
    ("plugins/recognizability/robarena_recognizability/claims.py",
     "numbers[f\"{t}{label}_{col[len('task[recognizability.'):-1]}\"] = context", "label prefix sliced off"),
    ("plugins/infotransfer/robarena_infotransfer/tasks/transfer_claims.py",
     r'pattern = re.compile(rf"^task\[{re.escape(task)}\.(.+)\.accuracy\]$")', "regex over a label"),
    ("plugins/infotransfer/robarena_infotransfer/tasks/inversion_claims.py", 'return f"task[{task}.{metric}]"',
     "result label built in a plugin"),
    ("plugins/infotransfer/robarena_infotransfer/probes/claims.py", "out[label] = value(frame, column, defense=label)",
     "rows selected by label"),
    ("plugins/infotransfer/robarena_infotransfer/tasks/inversion_claims.py",
     'plain = value(frame, column("iters_to_threshold"), defense=ROBUST)', "rows selected by label"),
    ("bench/leaderboard/plots.py", "def parse_robust_column(key: str) -> Optional[tuple[str, str, float, bool]]:",
     "parse_robust_column"),
    ("bench/leaderboard/plots.py", "parsed = parse_robust_column(key)", "parse_robust_column"),
    ("bench/leaderboard/plots.py", r'_THREAT = re.compile(r"^(?P<norm>Linf|L2) (?P<eps>\S+)(?P<targeted> targeted)?$")',
     "threat label parsed"),
    ("bench/leaderboard/plots.py",
     r'_ROBUST = re.compile(r"^(?P<attack>.+?) (?P<threat>(?:Linf|L2) \S+(?: targeted)?)$")', "threat label parsed"),
    # not from the old code: the concatenation the issue names
    ("bench/leaderboard/diff.py", 'column = "robust[" + attack_label + " " + threat', "label prefix concatenated"),
]


@pytest.mark.parametrize("path, line, pattern", BEFORE_THE_PORT, ids=[f"{p}:{n}" for p, _, n in BEFORE_THE_PORT])
def test_the_patterns_catch_the_label_parsing_from_before_the_port(path, line, pattern):
    flagged = {name for _, name, _ in scan(line, plugin=path.startswith("plugins/"))}
    assert pattern in flagged
    assert not _allowed(path, line)


@pytest.mark.parametrize("line", [
    'out.update({f"robust[{attack_column(a)}]": a.accuracy for a in self.attacks})',  # rendering a label
    'out.update({f"probe[{k}]": v for k, v in self.probes.items()})',
    "``robust[<attack> <threat>]``, ``ensemble[<threat>]``, ``probe[<probe>.<col>]``",  # documenting one
    'pgd = robust_column(frame, "classics/pgd", norm="Linf", eps=8 / 255, loss="ce")',  # selecting by parameters
    'rows = select_where(frame, defense_id="classics/trades", defense_params={"beta": 6.0})',
    'gap = metric_column(frame, "classics/generalization", "loss_gap")',
    "number, shown = parse_eps(eps)",
])
def test_the_patterns_leave_rendering_and_selection_by_parameters_alone(line):
    assert scan(line, plugin=False) == []
