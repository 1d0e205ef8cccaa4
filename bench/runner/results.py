"""Assemble leaderboard rows (schema 2, :mod:`bench.rows.schema`) from stored cell records
(no recomputation).

Every accuracy carries its count and 95 % interval. The worst case is per example over the
suite's attacks at one threat model: an example counts as robust only if it is clean-correct and
survives every attack. ``certified`` sets each certified accuracy a probe reported beside the
empirical robust accuracy of the same classifier at the same threat (the row's worst case for the
model itself, the probe's own attack for a smoothed classifier). ``flags`` holds the attack-failure
indicators of :mod:`bench.runner.flags` plus those the row's probes reported. Rows are checked
against their invariants on assembly.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional

from bench.errors import CorruptArtifactError, LeaderboardError
from bench.rows.io import validate_row
from bench.rows.labels import threat_label
from bench.rows.schema import (Accuracy, AttackResult, CertifiedResult, MetricResult, Provenance, Row, Threat,
                               WorstCase)
from bench.rows.corruption import with_mce
from bench.runner.corruption_results import corruption_results, corruption_summary
from bench.runner.flags import certified_flags, row_flags
from bench.store.cache import ArtifactCache
from bench.store.results import ResultsStore
from bench.threat import parse_eps


def _finite(value: Optional[float]) -> Optional[float]:
    """NaN or infinite values (undefined for this model) are stored as ``None`` in rows."""
    return value if value is not None and math.isfinite(value) else None


def _threat(meta: dict) -> Threat:
    norm, eps = meta["threat_norm"], meta["threat_eps"]
    bounded = norm != "unbounded" and eps is not None and math.isfinite(eps)
    display = meta.get("threat_eps_display") or (parse_eps(eps)[1] if bounded else "inf")
    return Threat(norm=norm, eps=float(eps) if bounded else None, eps_display=display,
                  targeted=bool(meta.get("threat_targeted", False)))


def _component_id(meta: dict, id_field: str, label: str) -> str:
    """The record's component id; records stored before ids were kept: the spec whose name is the label."""
    if meta.get(id_field):
        return meta[id_field]
    found = [qid for qid in meta.get("specs", {}) if qid.split("/", 1)[-1] == label]
    return found[0] if len(found) == 1 else f"?/{label}"


def _accuracy(rec: dict, field: str) -> Optional[Accuracy]:
    if rec["status"] != "ok":
        return None
    return Accuracy.from_fraction(rec["payload"][field], int(rec["meta"]["n"]))


def _attack_results(attacks: list[dict]) -> list[AttackResult]:
    out = []
    for r in attacks:
        m = r["meta"]
        out.append(AttackResult(attack_id=_component_id(m, "attack_id", m["attack"]), label=m["attack"],
                                params=dict(m.get("attack_params") or {}), threat=_threat(m),
                                substitute=m.get("substitute"), accuracy=_accuracy(r, "robust_accuracy")))
    return out


def _worst_cases(cache: ArtifactCache, attacks: list[dict], results: list[AttackResult]) -> list[WorstCase]:
    """Per threat model: an example counts as robust only if it survives every attack of the row."""
    import numpy as np

    by_threat: dict[Threat, list[tuple[dict, AttackResult]]] = defaultdict(list)
    for rec, res in zip(attacks, results):
        by_threat[res.threat].append((rec, res))
    out = []
    for threat, members in by_threat.items():
        labels = [res.label for _, res in members]
        if any(rec["status"] != "ok" for rec, _ in members):
            out.append(WorstCase(threat=threat, attacks=labels))  # a subset's worst case would overstate robustness
            continue
        masks = [cell_arrays(cache, rec)["robust_correct"].astype(bool) for rec, _ in members]
        robust = np.logical_and.reduce(masks)
        out.append(WorstCase(threat=threat, attacks=labels, accuracy=Accuracy.of(int(robust.sum()), int(robust.size))))
    return sorted(out, key=lambda w: threat_label(w.threat))


def cell_arrays(cache: ArtifactCache, rec: dict) -> dict:
    """A stored cell's per-example arrays; a lost or damaged artifact names its cell and the fix."""
    try:
        return cache.get_arrays(rec["payload"]["arrays"])
    except CorruptArtifactError as exc:
        workdir = cache.root.parent.parent
        raise CorruptArtifactError(f"cell {rec['cell_id']!r}: {str(exc).split('; it will')[0]}; run the suite again "
                                   f"with --workdir {workdir} to recompute it (`robarena store check --workdir "
                                   f"{workdir}` lists every damaged record)") from None


def _published(meta: dict) -> list:
    """The row's published values (labels the training cell's metadata carries, never computed)."""
    from bench.rows.schema import PublishedResult

    out = []
    for p in meta.get("published") or ():
        threat = None
        if p["metric"] == "robust":
            threat = Threat(norm=p["norm"], eps=float(p["eps"]), eps_display=p.get("eps_display") or
                            parse_eps(p["eps"])[1])
        out.append(PublishedResult(metric=p["metric"], threat=threat, evaluation=p.get("evaluation", ""),
                                   value=float(p["value"]), source=p["source"]))
    return out


def _metric_results(kind: str, records: list[dict], values_field: str) -> list[MetricResult]:
    out = []
    for r in records:
        m = r["meta"]
        label = m[kind]
        for col, val in sorted((r["payload"].get(values_field) or {}).items()):
            out.append(MetricResult(kind=kind, source_id=_component_id(m, f"{kind}_id", label), label=label,  # type: ignore[arg-type]
                                    params=dict(m.get(f"{kind}_params") or {}), column=col, value=_finite(val),
                                    epoch=m.get("epoch") if kind == "probe" else None))
    return out


def _certified_results(probes: list[dict], worst_cases: list[WorstCase]) -> list[CertifiedResult]:
    """The probes' certified accuracies, each beside the empirical robust accuracy of the same classifier.

    ``base``: the row's worst case at the same threat (norm, eps, untargeted) when it covers the same
    number of examples; ``smoothed``: the count the probe's own attack on the smoothed classifier left.
    ``violation``: certified > empirical (a bug in the certifier or the attack).
    """
    out = []
    for rec in probes:
        if rec["status"] != "ok":
            continue
        m = rec["meta"]
        label = m["probe"]
        for c in rec["payload"].get("certified") or []:
            threat = Threat(norm=c["norm"], eps=float(c["eps"]), eps_display=c["eps_display"], targeted=False)
            accuracy = Accuracy.of(int(c["correct"]), int(c["n"]))
            empirical, source = None, None
            if c["classifier"] == "base":
                found = [w for w in worst_cases if w.threat.matches(threat.norm, threat.eps, False)
                         and w.accuracy is not None and w.accuracy.n == accuracy.n]
                if found:
                    empirical, source = found[0].accuracy, "worst case over " + ", ".join(found[0].attacks)
            elif c.get("empirical_correct") is not None:
                empirical, source = Accuracy.of(int(c["empirical_correct"]), accuracy.n), c.get("empirical_source")
            out.append(CertifiedResult(
                source_id=_component_id(m, "probe_id", label), label=label, classifier=c["classifier"],
                threat=threat, accuracy=accuracy, empirical=empirical, empirical_source=source,
                violation=empirical is not None and accuracy.correct > empirical.correct))
    return out


def assemble_row(cache: ArtifactCache, records: list[dict], suite: str, suite_version: str) -> Row:
    """One row from its cells' records, validated (a row whose numbers break an invariant is refused)."""
    train = [r for r in records if r["stage"] == "train"]
    attacks = [r for r in records if r["stage"] == "attack"]
    probes = [r for r in records if r["stage"] == "probe"]
    tasks = [r for r in records if r["stage"] == "task"]
    corruption_records = [r for r in records if r["stage"] == "corruption"]
    corruptions = corruption_results(corruption_records)
    meta = (train or records)[0]["meta"]
    errors = [f"{r['cell_id']}: {r['error']}" for r in records if r["status"] != "ok"]
    clean = next((_accuracy(r, "clean_accuracy") for r in records if r["stage"] == "clean" and r["status"] == "ok"),
                 None)
    attack_results = _attack_results(attacks)
    artifacts: dict[str, str] = {}
    for r in tasks:
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
    worst_cases = _worst_cases(cache, attacks, attack_results)
    final_probes = [r for r in probes if r["meta"].get("epoch") is None]  # not the probes over training
    certified = _certified_results(final_probes, worst_cases)
    row = Row(
        row_id=meta["row_id"], dataset=meta.get("dataset", "?"), model=meta.get("model", "?"),
        defense=meta.get("defense", "?"), seed=meta["seed"], dataset_id=meta.get("dataset_id", "?"),
        model_id=meta.get("model_id", "?"), defense_id=meta.get("defense_id", "?"),
        dataset_params=dict(meta.get("dataset_params") or {}), model_params=dict(meta.get("model_params") or {}),
        defense_params=dict(meta.get("defense_params") or {}), clean=clean, attacks=attack_results,
        worst_case=worst_cases, probe_results=_metric_results("probe", probes, "scalars"),
        task_results=_metric_results("task", tasks, "metrics"), certified=certified, corruptions=corruptions,
        corruption_summary=corruption_summary(corruption_records, corruptions),
        flags=list(dict.fromkeys(row_flags(attacks, final_probes) + certified_flags(certified))), errors=errors,
        artifacts=artifacts, provenance=prov, published=_published(meta),
    )
    return validate_row(row, f"row {row.row_id!r}")


def rows_from_records(cache: ArtifactCache, records: Iterable[dict], suite: str, suite_version: str) -> list[Row]:
    by_row: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        by_row[rec["meta"]["row_id"]].append(rec)
    rows = [assemble_row(cache, recs, suite, suite_version) for _, recs in sorted(by_row.items())]
    return with_mce(rows)  # the (relative) mCE compares rows: set once all are assembled


def load_run_records(workdir: Any, suite_name: str) -> tuple[list[dict], str]:
    """The cell records of the latest finished run of ``suite_name`` in ``workdir``, with the labels
    that run gave them, and the suite version (nothing is recomputed)."""
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
        return records, run["suite_version"]
    finally:
        store.close()


def load_rows(workdir: Any, suite_name: str) -> list[Row]:
    """Rows of the latest finished run of ``suite_name`` in ``workdir`` (as the leaderboard builds them)."""
    records, version = load_run_records(workdir, suite_name)
    return rows_from_records(ArtifactCache(Path(workdir) / "cache"), records, suite_name, version)
