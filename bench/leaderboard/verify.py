"""Validate a (third-party) leaderboard snapshot by re-running a random sample of its rows.

``robarena leaderboard verify SUITE VERSION --sample K`` draws K rows with a seeded RNG,
re-runs exactly those rows (their dataset x model x defense x seed, every attack, probe and
task of the suite) in a scratch work directory, and diffs the fresh rows against the
published ones. The tolerance is exact when this machine has the row's torch version and
platform, else ``cross_atol`` (default 0.03 absolute, as for the published quick leaderboard).
"""
from __future__ import annotations

import argparse
import platform
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Union

from bench.errors import LeaderboardError

if TYPE_CHECKING:  # pragma: no cover - the CLI builds its parser without importing the row schema
    from bench.rows.schema import Row

CROSS_MACHINE_ATOL = 0.03


@dataclass
class VerifyReport:
    sampled: list[str]
    atol: float
    diff: Any  # bench.leaderboard.diff.SnapshotDiff

    @property
    def ok(self) -> bool:
        return self.diff.identical


def _label(ref: Any, registry: Any, kind: str) -> str:
    return ref.label or registry.get(kind, ref.id).spec.name


def row_suite(suite: Any, row: Row, registry: Any) -> dict:
    """The suite cut down to the one row ``row`` (same attacks, probes, tasks, budgets)."""
    data = suite.model_dump(mode="json")
    datasets = [d for d in suite.datasets if _label(d, registry, "dataset") == row.dataset]
    if row.defense_id == "pretrained":
        pretrained = [p for p in suite.pretrained if p.label == row.model]
        if not pretrained:
            raise LeaderboardError(f"row {row.row_id!r}: suite {suite.name!r} has no pretrained entry {row.model!r}")
        data.update(models=[], defenses=[], pretrained=[p.model_dump(mode="json") for p in pretrained])
    else:
        models = [m for m in suite.models if _label(m, registry, "model") == row.model]
        defenses = [d for d in suite.defenses if _label(d, registry, "defense") == row.defense]
        if not (datasets and models and defenses):
            raise LeaderboardError(f"row {row.row_id!r} is not a row of suite {suite.name!r} version {suite.version}: "
                                   "verify with the suite file the snapshot was built from (--suite PATH)")
        data.update(datasets=[d.model_dump(mode="json") for d in datasets],
                    models=[m.model_dump(mode="json") for m in models],
                    defenses=[d.model_dump(mode="json") for d in defenses], pretrained=[])
    data["seeds"] = [row.seed]
    return data


def verify_rows(published: list[Row], suite: Any, sample: int, seed: int = 0, workdir: Union[str, Path] = ".robarena-verify",
                plugins: Iterable[str] = (), cross_atol: float = CROSS_MACHINE_ATOL, device: str = "cpu",
                progress: bool = False) -> VerifyReport:
    import torch

    import bench
    from bench.leaderboard.diff import diff_snapshots, reference_columns_only
    from bench.registry import get_registry

    if sample < 1:
        raise LeaderboardError(f"--sample must be >= 1, got {sample}")
    if not published:
        raise LeaderboardError("the snapshot has no rows to verify")
    versions = {r.provenance.suite_version for r in published}
    if versions != {suite.version}:
        raise LeaderboardError(f"the snapshot was built from suite version(s) {sorted(versions)} but suite "
                               f"{suite.name!r} is version {suite.version}; pass the matching suite file with --suite")
    registry = get_registry(tuple(plugins))
    picked = sorted(random.Random(seed).sample(published, min(sample, len(published))), key=lambda r: r.row_id)
    fresh = []
    for row in picked:
        result = bench.run(row_suite(suite, row, registry), workdir=workdir, device=device, plugins=plugins,
                           progress=progress)
        fresh += [r for r in result.rows if r.row_id == row.row_id]
    prov = picked[0].provenance
    same_machine = prov.torch_version == torch.__version__ and prov.platform == platform.platform()
    atol = 0.0 if same_machine else cross_atol
    fresh = reference_columns_only(fresh, picked)  # a column added since the snapshot is no difference
    return VerifyReport([r.row_id for r in picked], atol, diff_snapshots(picked, fresh, atol=atol))


def handle(args: argparse.Namespace) -> int:
    from bench.leaderboard.build import load_snapshot
    from bench.leaderboard.diff import format_diff
    from bench.registry import get_registry
    from bench.runner.suite import resolve_suite

    published = load_snapshot(Path(args.root), args.suite, args.version)
    suite = resolve_suite(args.suite_file or args.suite, get_registry(tuple(args.plugins)))
    report = verify_rows(published, suite, args.sample, seed=args.seed, workdir=args.workdir, plugins=args.plugins,
                         cross_atol=args.cross_atol, device=args.device, progress=not args.no_progress)
    print(f"re-ran {len(report.sampled)} of {len(published)} rows (tolerance {report.atol:g}): "
          + ", ".join(report.sampled))
    if report.ok:
        print("verified: every re-run metric matches the snapshot")
        return 0
    print(format_diff(report.diff))
    return 1


def add_parser(sub: Any, root: argparse.ArgumentParser) -> None:
    p = sub.add_parser("verify", parents=[root], help="re-run a random sample of a snapshot's rows and compare")
    p.add_argument("suite", metavar="SUITE")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--sample", type=int, default=3, help="rows to re-run (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the row sample (default: %(default)s)")
    p.add_argument("--suite", dest="suite_file", default=None,
                   help="suite file the snapshot was built from (default: the registered suite SUITE)")
    p.add_argument("--workdir", default=".robarena-verify", help="scratch work directory (default: %(default)s)")
    p.add_argument("--cross-atol", type=float, default=CROSS_MACHINE_ATOL,
                   help="tolerance when torch version or platform differ from the snapshot's (default: %(default)s)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=handle)
