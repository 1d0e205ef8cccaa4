"""``robarena store check``: verify a whole work directory, and with ``repair`` remove what is broken.

Checked: every cell record's checksum and JSON; every artifact a record refers to (present in
the cache and matching its sha256); every run's cell list; and that the latest finished run of
each suite (the one ``show`` and ``leaderboard build`` read) finds all its records. Repair
deletes broken records (and corrupted artifact files) so the next run of their suite recomputes
them, and sets runs with an unreadable cell list aside (status ``damaged``); it never touches a
record that verifies.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bench.errors import CorruptArtifactError
from bench.store.cache import ArtifactCache
from bench.store.results import DAMAGED, ResultsStore, StoreError, artifact_digests


@dataclass
class CheckReport:
    workdir: Path
    cells: int = 0
    artifacts: int = 0
    runs: Counter = field(default_factory=Counter)  # status -> count
    problems: list[str] = field(default_factory=list)
    broken_keys: list[str] = field(default_factory=list)  # records a repair deletes
    corrupt_digests: list[str] = field(default_factory=list)  # artifact files that fail their sha256
    damaged_runs: list[str] = field(default_factory=list)
    rerun: set[str] = field(default_factory=set)  # suites whose latest run lacks records
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_artifacts(cache: ArtifactCache, record: dict, seen: dict[str, Optional[str]]) -> list[str]:
    """What is wrong with the artifacts ``record`` refers to (each digest is read once)."""
    out = []
    for name, digest in artifact_digests(record["payload"]):
        if digest not in seen:
            try:
                cache.get_bytes(digest)
                seen[digest] = None
            except CorruptArtifactError:
                seen[digest] = "is missing" if not cache.path(digest).exists() else "does not match its sha256"
        if seen[digest] is not None:
            out.append(f"artifact {name} ({digest[:12]}, {cache.path(digest)}) {seen[digest]}")
    return out


def check_workdir(workdir: Path, repair: bool = False) -> CheckReport:
    """Verify ``workdir``; with ``repair``, delete broken records and set damaged runs aside."""
    workdir = Path(workdir)
    path = workdir / "results.sqlite"
    if not path.is_file() and not path.is_dir():
        raise StoreError(f"no results database in {workdir}: nothing to check (pass the --workdir of a run)")
    store = ResultsStore(path, readonly=False if repair else None)
    cache = ArtifactCache(workdir / "cache")
    report = CheckReport(workdir)
    try:
        seen: dict[str, Optional[str]] = {}
        present: set[str] = set()
        for key, cell_id, record, problem in store.iter_cells():
            report.cells += 1
            wrong = [problem] if problem else _check_artifacts(cache, record, seen)
            if wrong:
                report.problems += [f"cell record {cell_id!r} (key {key}): {w}" for w in wrong]
                report.broken_keys.append(key)
            else:
                present.add(key)
        report.artifacts = len(seen)
        report.corrupt_digests = sorted(d for d, why in seen.items() if why == "does not match its sha256")
        latest: dict[str, dict] = {}
        for run in store.list_runs():
            report.runs[run["status"]] += 1
            if run.get("problem"):
                report.problems.append(f"run {run['run_id']} of suite {run['suite']!r} {run['problem']}")
                report.damaged_runs.append(run["run_id"])
            elif run["finished"] is not None and run["status"] != DAMAGED:
                if run["suite"] not in latest or run["finished"] >= latest[run["suite"]]["finished"]:
                    latest[run["suite"]] = run
        for suite, run in sorted(latest.items()):
            missing = [k for k in run["cell_keys"] if k not in present]
            if missing:
                report.rerun.add(suite)
                absent = [k for k in missing if k not in report.broken_keys]
                if absent:
                    report.problems.append(f"the latest run of suite {suite!r} ({run['run_id']}) lists {len(absent)} "
                                           "cell record(s) that are not in the store")
        if repair:
            for key in report.broken_keys:
                store.delete_cell(key)
            for digest in report.corrupt_digests:
                cache.discard(digest)
            for run_id in report.damaged_runs:
                store.mark_run(run_id, DAMAGED)
            report.repaired = True
    finally:
        store.close()
    return report


def format_report(report: CheckReport) -> str:
    runs = ", ".join(f"{n} {status}" for status, n in sorted(report.runs.items())) or "none"
    lines = [f"checked {report.workdir}: {report.cells} cell record(s), {report.artifacts} artifact(s), "
             f"runs: {runs}"]
    if report.ok:
        lines.append("no problems found")
        return "\n".join(lines)
    lines.append(f"{len(report.problems)} problem(s):")
    lines += [f"  {p}" for p in report.problems]
    suites = " ".join(sorted(report.rerun))
    if report.repaired:
        lines.append(f"repaired: deleted {len(report.broken_keys)} broken record(s) and {len(report.corrupt_digests)} "
                     f"corrupted artifact file(s); set {len(report.damaged_runs)} damaged run(s) aside")
    elif report.broken_keys or report.damaged_runs:
        lines.append(f"to repair: robarena store check --workdir {report.workdir} --repair (deletes the broken "
                     "records so that the next run recomputes them)")
    if report.rerun:
        then = "then " if report.broken_keys and not report.repaired else ""
        lines.append(f"{then}run the suite(s) again to recompute the missing records: {suites} (robarena run SUITE "
                     f"--workdir {report.workdir})")
    return "\n".join(lines)
