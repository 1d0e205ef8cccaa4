"""`robarena leaderboard verify`: re-run a sample of a snapshot's rows; honest rows pass, altered ones fail."""
import pytest

import bench
from bench.cli.main import main
from bench.errors import LeaderboardError
from bench.leaderboard.build import build_snapshot, load_snapshot
from bench.leaderboard.verify import row_suite, verify_rows
from bench.registry import get_registry
from bench.rows.schema import Accuracy
from bench.runner.suite import resolve_suite

from runner_helpers import tiny_suite


TWO_ROW_TOML = """
name = "tiny"
[[datasets]]
id = "core/digits"
params = { n_train = 300, n_test = 60 }
[[models]]
id = "tiny-linear"
[[defenses]]
id = "erm"
label = "erm-a"
[[defenses]]
id = "erm"
label = "erm-b"
train = { lr = 0.05 }
[[attacks]]
id = "sign"
eps = 0.1
params = { steps = 3 }
[[probes]]
id = "confidence"
[train]
epochs = 3
batch_size = 32
lr = 0.1
[eval]
n = 60
batch_size = 32
"""


def two_row_suite():
    return tiny_suite(defenses=[{"id": "erm", "label": "erm-a"},
                                {"id": "erm", "label": "erm-b", "train": {"lr": 0.05}}])


@pytest.fixture
def published(tmp_path, testkit):
    res = bench.run(two_row_suite(), workdir=tmp_path / "wd", plugins=testkit)
    assert res.ok and len(res.rows) == 2
    return res.rows


def test_row_suite_keeps_exactly_one_row(published, testkit):
    registry = get_registry(testkit)
    suite = resolve_suite(two_row_suite(), registry)
    cut = row_suite(suite, published[1], registry)
    assert [d["label"] for d in cut["defenses"]] == [published[1].defense]
    assert cut["seeds"] == [published[1].seed] and cut["attacks"] == suite.model_dump(mode="json")["attacks"]


def test_honest_rows_verify_and_altered_rows_do_not(published, tmp_path, testkit, capsys):
    suite = resolve_suite(two_row_suite(), get_registry(testkit))
    report = verify_rows(published, suite, sample=2, workdir=tmp_path / "v1", plugins=testkit)
    assert report.ok and report.atol == 0.0 and sorted(report.sampled) == sorted(r.row_id for r in published)

    # a submission claiming a better clean accuracy than its model has
    forged = [r.model_copy(update={"clean": Accuracy.of(min(r.clean.n, r.clean.correct + r.clean.n // 10), r.clean.n)})
              for r in published]
    assert all(f.clean.correct > r.clean.correct for f, r in zip(forged, published))
    root = tmp_path / "lb"
    build_snapshot(forged, "tiny", "sub1", root=root)
    report = verify_rows(load_snapshot(root, "tiny", "sub1"), suite, sample=1, workdir=tmp_path / "v2", plugins=testkit)
    assert not report.ok
    (change,) = report.diff.changed
    assert [m.column for m in change.metrics] == ["clean"]

    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text(TWO_ROW_TOML)
    assert resolve_suite(str(suite_file), get_registry(testkit)) == suite  # the file is the same suite
    argv = ["-p", testkit[0], "leaderboard", "verify", "tiny", "sub1", "--root", str(root), "--suite", str(suite_file),
            "--sample", "1", "--workdir", str(tmp_path / "v3"), "--no-progress"]
    assert main(argv) == 1
    assert "clean" in capsys.readouterr().out


def test_suite_version_mismatch_is_refused(published, tmp_path, testkit):
    suite = resolve_suite(two_row_suite() | {"version": "2"}, get_registry(testkit))
    with pytest.raises(LeaderboardError, match="suite version"):
        verify_rows(published, suite, sample=1, workdir=tmp_path / "v", plugins=testkit)
    with pytest.raises(LeaderboardError, match="--sample"):
        verify_rows(published, suite, sample=0, workdir=tmp_path / "v", plugins=testkit)
