"""Assemble leaderboard rows from stored cell records (no recomputation).

The ensemble column is the per-example worst case over the suite's attacks at one threat
model: an example counts as robust only if it is clean-correct and survives every attack.
``flags`` holds the attack-failure indicators of :mod:`bench.runner.flags` plus those the
row's probes reported.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional

from bench.errors import LeaderboardError
from bench.leaderboard.schema import Provenance, Row
from bench.runner.flags import row_flags
from bench.store.cache import ArtifactCache
from bench.store.results import ResultsStore


def _finite(value: Optional[float]) -> Optional[float]:
    """NaN or infinite values (undefined for this model) are stored as ``None`` in rows."""
    return value if value is not None and math.isfinite(value) else None


def _ensembles(cache: ArtifactCache, attacks: list[dict]) -> dict[str, Optional[float]]:
    by_threat: dict[str, list[dict]] = defaultdict(list)
    for rec in attacks:
        by_threat[rec["meta"]["threat"]].append(rec)
    out: dict[str, Optional[float]] = {}
    for threat, recs in sorted(by_threat.items()):
        if any(r["status"] != "ok" for r in recs):
            out[threat] = None  # a worst case over a subset of attacks would overstate robustness
            continue
        import numpy as np

        masks = [cache.get_arrays(r["payload"]["arrays"])["robust_correct"].astype(bool) for r in recs]
        out[threat] = float(np.logical_and.reduce(masks).mean())
    return out


def assemble_row(cache: ArtifactCache, records: list[dict], suite: str, suite_version: str) -> Row:
    train = [r for r in records if r["stage"] == "train"]
    attacks = [r for r in records if r["stage"] == "attack"]
    probes = [r for r in records if r["stage"] == "probe"]
    tasks = [r for r in records if r["stage"] == "task"]
    meta = (train or records)[0]["meta"]
    errors = [f"{r['cell_id']}: {r['error']}" for r in records if r["status"] != "ok"]
    clean = next((r["payload"]["clean_accuracy"] for r in records if r["stage"] == "clean" and r["status"] == "ok"),
                 None)
    robust = {r["meta"]["column"]: (r["payload"]["robust_accuracy"] if r["status"] == "ok" else None)
              for r in attacks}
    probe_cols: dict[str, Optional[float]] = {}
    for r in probes:
        for col, val in sorted((r["payload"].get("scalars") or {}).items()):
            probe_cols[f"{r['meta']['probe']}.{col}"] = _finite(val)
    task_cols: dict[str, Optional[float]] = {}
    artifacts: dict[str, str] = {}
    for r in tasks:
        for col, val in sorted((r["payload"].get("metrics") or {}).items()):
            task_cols[f"{r['meta']['task']}.{col}"] = _finite(val)
        for name, digest in (r["payload"].get("artifacts") or {}).items():
            artifacts[f"{r['meta']['task']}.{name}"] = digest
    if train and train[0]["status"] == "ok":
        artifacts["checkpoint"] = train[0]["payload"]["checkpoint"]
    plugins: dict[str, str] = {}
    specs: dict[str, str] = {}
    for r in records:
        plugins.update(r["meta"].get("plugins", {}))
        specs.update(r["meta"].get("specs", {}))
    config_hash = hashlib.sha256("".join(sorted(r["key"] for r in records)).encode()).hexdigest()[:16]
    n = max((r["meta"].get("n", 0) for r in attacks + probes), default=meta.get("n", 0))
    prov = Provenance(
        core_version=meta["core_version"], plugins=dict(sorted(plugins.items())), specs=dict(sorted(specs.items())),
        config_hash=config_hash, data_fingerprint=meta["fingerprint"], seed=meta["seed"], n=n,
        device=meta["device"], date=max(r["created"] for r in records), torch_version=meta["torch"],
        platform=meta["platform"], suite=suite, suite_version=suite_version,
    )
    return Row(
        row_id=meta["row_id"], dataset=meta.get("dataset", "?"), model=meta.get("model", "?"),
        defense=meta.get("defense", "?"), seed=meta["seed"], dataset_id=meta.get("dataset_id", "?"),
        model_id=meta.get("model_id", "?"), defense_id=meta.get("defense_id", "?"), clean_accuracy=clean,
        robust=robust, ensemble=_ensembles(cache, attacks), probes=probe_cols, tasks=task_cols,
        flags=row_flags(attacks, probes), errors=errors, artifacts=artifacts, provenance=prov,
    )


def rows_from_records(cache: ArtifactCache, records: Iterable[dict], suite: str, suite_version: str) -> list[Row]:
    by_row: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        by_row[rec["meta"]["row_id"]].append(rec)
    return [assemble_row(cache, recs, suite, suite_version) for _, recs in sorted(by_row.items())]


def load_rows(workdir: Any, suite_name: str) -> list[Row]:
    """Rows of the latest finished run of ``suite_name`` in ``workdir`` (as the leaderboard builds them)."""
    path = Path(workdir) / "results.sqlite"
    if not path.exists():
        raise LeaderboardError(f"no results in {workdir!s}: run 'robarena run {suite_name}' first (or pass --workdir)")
    store = ResultsStore(path)
    try:
        run = store.latest_run(suite_name)
        if run is None:
            raise LeaderboardError(
                f"work directory {workdir!s} has no finished run of suite {suite_name!r}; run 'robarena run {suite_name}'")
        records = [store.get_cell(k) for k in run["cell_keys"]]
        missing = [k for k, r in zip(run["cell_keys"], records) if r is None]
        if missing:
            raise LeaderboardError(f"{len(missing)} cell record(s) of the last run are missing; re-run the suite")
        for rec in records:  # the labels this run gave each cell (another suite may relabel shared cells)
            labels = dict(run["labels"].get(rec["key"], {}))
            rec["cell_id"] = labels.pop("cell_id", rec["cell_id"])
            rec["meta"] = {**rec["meta"], **labels}
        return rows_from_records(ArtifactCache(Path(workdir) / "cache"), records, suite_name, run["suite_version"])
    finally:
        store.close()
