"""The published ``leaderboard/quick`` snapshot is reproduced by a fresh run of the quick suite.

Exact equality when this machine has the snapshot's torch version and platform and torch
uses the snapshot's intra-op thread count, ``PUBLISHED_THREADS`` = 2 (torch's default on the
2-core machine that built it; rows do not record it) — the same numbers bit for bit;
otherwise every accuracy within ``CROSS_MACHINE_ATOL`` = 0.03 absolute (3 percentage points)
and every other metric (logit margins, losses) within 3 % relative: different BLAS kernels or
thread splits change float rounding, which can flip a few of the 500 evaluation examples after
training (with one thread PGD-AT's PGD accuracy is 81.6 % instead of 80.0 % and its mean logit
margin 7.84 instead of 7.91).

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
from bench.leaderboard.diff import diff_snapshots, format_diff, reference_columns_only
from bench.rows.frame import is_accuracy

ROOT = Path(__file__).resolve().parents[1] / "leaderboard"
CROSS_MACHINE_ATOL = 0.03
PUBLISHED_THREADS = 2

pytestmark = pytest.mark.slow


def test_fresh_quick_run_reproduces_the_published_leaderboard(tmp_path):
    versions = list_versions(ROOT, "quick")
    assert versions, "leaderboard/quick has no published version"
    published = load_snapshot(ROOT, "quick", versions[-1])
    result = bench.run("quick", workdir=tmp_path, device="cpu")
    assert result.ok, result.failures
    prov = published[0].provenance
    same_machine = (prov.torch_version == torch.__version__ and prov.platform == platform.platform()
                    and torch.get_num_threads() == PUBLISHED_THREADS)
    diff = diff_snapshots(published, reference_columns_only(result.rows, published),
                          atol=0.0 if same_machine else CROSS_MACHINE_ATOL)
    assert not diff.added and not diff.removed
    if same_machine:
        assert not diff.changed, format_diff(diff)
    else:  # accuracies within 0.03 absolute; other metrics (logit margins, losses) within 3 % relative
        beyond = [(change.row_id, m.column, m.old, m.new) for change in diff.changed for m in change.metrics
                  if is_accuracy(m.column) or m.old is None or m.new is None
                  or abs(m.new - m.old) > CROSS_MACHINE_ATOL * max(abs(m.old), abs(m.new))]
        assert not beyond, format_diff(diff)
        assert not [c for c in diff.changed if c.flags_added or c.flags_removed or c.errors_added], format_diff(diff)
