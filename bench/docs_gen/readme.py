"""The README's headline: a result table and a figure from the published quick leaderboard.

Both come from the latest published version of ``leaderboard/quick`` (read with :func:`bench.leaderboard.build.load_snapshot`,
which verifies the snapshot's checksum): the table lists every row, ranked by its worst-case robust
accuracy, with each accuracy's 95 % Clopper-Pearson interval; the figure is the leaderboard's own
worst-case eps curve (:mod:`bench.leaderboard.plots`), saved as ``docs/img/quick-worst-case.png``.
The table sits in README.md between :data:`BEGIN` and :data:`END`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Union

from bench.errors import RobarenaError

SNAPSHOT = ("leaderboard", "quick")  # root, suite; the latest published version is used
FIGURE = "docs/img/quick-worst-case.png"
BEGIN = ("<!-- headline table: generated from the latest leaderboard/quick version by "
         "`python -m bench.docs_gen --write`; do not edit by hand -->")
END = "<!-- end of headline table -->"


def load_rows(root: Union[str, Path]) -> list:
    from bench.leaderboard.build import load_snapshot

    base, suite = SNAPSHOT
    return load_snapshot(Path(root) / base, suite, latest_version(root))


def _cell(acc) -> str:
    """``80.0 [76.2, 83.4]``: the percentage and its 95 % interval; ``—`` when missing."""
    from bench.leaderboard.render import MISSING, NO_EXAMPLES, accuracy_digits, accuracy_interval

    if acc is None:
        return MISSING
    if acc.n == 0:
        return NO_EXAMPLES
    digits = accuracy_digits(acc.n)
    interval = accuracy_interval(acc).format(percent=True, style="bracket", digits=digits)
    return f"{100 * acc.value:.{digits}f} {interval}"


def latest_version(root: Union[str, Path]) -> str:
    """The newest published version of the headline suite."""
    from bench.leaderboard.build import list_versions

    base, suite = SNAPSHOT
    versions = list_versions(Path(root) / base, suite)
    if not versions:
        raise RobarenaError(f"no published version of {base}/{suite} to take the headline from")
    return versions[-1]


def headline_table(rows: Iterable, version: str) -> str:
    """The rows as a markdown table (rank, model, defense, dataset, clean, every attack, every worst
    case, flags when any), ranked as on the leaderboard's web page, then a line saying where the
    numbers come from."""
    from bench.leaderboard.ranking import standings
    from bench.leaderboard.render import _md_escape
    from bench.rows.labels import attack_column, threat_label

    rows = list(rows)
    if not rows:
        raise RobarenaError("the headline snapshot has no rows")
    by_id = {r.row_id: r for r in rows}
    attacks = list(dict.fromkeys(attack_column(a) for r in rows for a in r.attacks))
    threats = list(dict.fromkeys(threat_label(w.threat) for r in rows for w in r.worst_case))
    flagged = any(r.flags for r in rows)
    headers = ["rank", "model", "defense", "dataset", "clean (%)"] + [f"{a} (%)" for a in attacks]
    headers += [f"**worst case {t}** (%)" for t in threats] + (["flags"] if flagged else [])
    lines = ["| " + " | ".join(_md_escape(h).replace("\\*", "*") for h in headers) + " |",
             "|" + "---|" * len(headers)]
    for standing in standings(rows):
        row = by_id[standing.row_id]
        found = {attack_column(a): a.accuracy for a in row.attacks}
        worst = {threat_label(w.threat): w.accuracy for w in row.worst_case}
        cells = [str(standing.rank) if standing.rank is not None else "—", row.model, row.defense, row.dataset,
                 _cell(row.clean)]
        cells += [_cell(found.get(a)) for a in attacks] + [f"**{_cell(worst.get(t))}**" for t in threats]
        cells = [_md_escape(c).replace("\\*", "*") for c in cells] + ([_md_escape(", ".join(row.flags))] if flagged else [])
        lines.append("| " + " | ".join(cells) + " |")
    prov = rows[0].provenance
    ns = sorted({r.provenance.n for r in rows})
    lines += ["", f"Accuracy in % on the first {', '.join(map(str, ns))} test images, each with its 95 % "
              "Clopper-Pearson interval; *worst case* counts an example as robust only if it survives every "
              f"attack of the suite. Source: [`leaderboard/quick/{version}`](leaderboard/quick/{version}/) "
              f"(seed {', '.join(sorted({str(r.seed) for r in rows}))}, {prov.device}, torch "
              f"{prov.torch_version.split('+')[0]})."]
    return "\n".join(lines)


def figure_spec(rows: Iterable):
    """The worst-case eps curve of the rows (the first eps curve when there is no worst case)."""
    from bench.leaderboard.plots import collect

    specs, _ = collect(list(rows))
    curves = [s for s in specs if s.kind == "eps-curve"]
    if not curves:
        raise RobarenaError("the headline snapshot has no eps curve to draw")
    worst = [s for s in curves if s.key and s.key[0] == "ensemble"]
    return (worst or curves)[0]


def figure_png(rows: Iterable) -> bytes:
    from bench.leaderboard.plots import to_png

    return to_png(figure_spec(rows))


def replace_block(text: str, block: str, where: str = "README.md", begin: str = BEGIN, end: str = END) -> str:
    """``text`` with the lines between the markers ``begin`` and ``end`` replaced by ``block``."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise RobarenaError(f"{where} lacks the generated-block markers {begin!r} ... {end!r}")
    return text[:start] + begin + "\n" + block.rstrip("\n") + "\n" + text[stop:]
