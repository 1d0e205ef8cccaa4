"""The published ``leaderboard/quick`` snapshot is reproduced by a fresh run of the quick suite.

Exact equality when this machine has the snapshot's torch version and platform (the
same numbers bit for bit); otherwise every metric within ``CROSS_MACHINE_ATOL`` = 0.03 absolute (3 percentage
points for accuracies; different BLAS kernels change float rounding, which can flip a
few of the 500 evaluation examples after training).

Only the snapshot's metric columns are compared: columns added since it was published (e.g.
the ``integrity`` probe every row now gets) do not make it stale. Flags are compared in full,
so an indicator firing on a quick row fails the test.
"""
import platform
from pathlib import Path

import pytest
import torch

import bench
from bench.leaderboard.build import list_versions, load_snapshot
from bench.leaderboard.diff import diff_snapshots, format_diff

ROOT = Path(__file__).resolve().parents[1] / "leaderboard"
CROSS_MACHINE_ATOL = 0.03

pytestmark = pytest.mark.slow
METRIC_FIELDS = ("robust", "ensemble", "probes", "tasks")


def published_columns_only(rows, published):
    """``rows`` with each metric mapping cut to the keys the published row of the same id has."""
    old = {r.row_id: r for r in published}
    out = []
    for row in rows:
        ref = old.get(row.row_id)
        if ref is None:
            out.append(row)
            continue
        out.append(row.model_copy(update={
            name: {k: v for k, v in getattr(row, name).items() if k in getattr(ref, name)} for name in METRIC_FIELDS}))
    return out


def test_fresh_quick_run_reproduces_the_published_leaderboard(tmp_path):
    versions = list_versions(ROOT, "quick")
    assert versions, "leaderboard/quick has no published version"
    published = load_snapshot(ROOT, "quick", versions[-1])
    result = bench.run("quick", workdir=tmp_path, device="cpu")
    assert result.ok, result.failures
    prov = published[0].provenance
    same_machine = prov.torch_version == torch.__version__ and prov.platform == platform.platform()
    diff = diff_snapshots(published, published_columns_only(result.rows, published),
                          atol=0.0 if same_machine else CROSS_MACHINE_ATOL)
    assert not diff.added and not diff.removed
    assert not diff.changed, format_diff(diff)
