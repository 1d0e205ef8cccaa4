"""Checksummed cell records, runs left by killed processes, leftover build folders, and
``robarena store check`` (issue #17, items 4 and 5)."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.store.liveness import host_tag, this_host
from bench.store.results import CorruptRecordError, ResultsStore, record_checksum
from store_helpers import workdir  # noqa: F401  (fixture)

ROW = "digits/tiny-linear/erm/seed0"
OLD_SCHEMA = """
CREATE TABLE cells (key TEXT PRIMARY KEY, stage TEXT NOT NULL, cell_id TEXT NOT NULL, status TEXT NOT NULL,
    payload TEXT NOT NULL, meta TEXT NOT NULL, error TEXT, created TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, suite_version TEXT NOT NULL, started TEXT NOT NULL,
    finished TEXT, status TEXT NOT NULL, cell_keys TEXT NOT NULL, labels TEXT);
"""


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def sql(path: Path, statement: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(statement, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path):
    s = ResultsStore(tmp_path / "results.sqlite")
    s.put_cell("k1", "attack", "row :: pgd", "ok", {"robust_accuracy": 0.25, "clean_accuracy": 0.5},
               {"row_id": "row", "column": "pgd"})
    yield s
    s.close()


# --------------------------------------------------------------------------- checksums
def test_a_flipped_digit_passes_sqlite_but_not_the_checksum(store):
    sql(store.path, "UPDATE cells SET payload = replace(payload, '0.25', '0.75')")
    assert sql(store.path, "PRAGMA integrity_check") == [("ok",)]  # SQLite itself sees nothing wrong
    with pytest.raises(CorruptRecordError) as info:
        store.get_cell("k1")
    message = str(info.value)
    assert "'row :: pgd'" in message and "k1" in message and "does not match its checksum" in message
    assert "robarena store check" in message and "--repair" in message
    with pytest.warns(RuntimeWarning, match="row :: pgd"):
        assert store.get_cell("k1", on_mismatch="missing") is None  # the runner recomputes it
    assert json.loads(sql(store.path, "SELECT payload FROM cells")[0][0])["robust_accuracy"] == 0.75  # kept as is


@pytest.mark.parametrize("column, value", [
    ("stage", "train"), ("cell_id", "row :: fgsm"), ("status", "error"), ("meta", '{"row_id": "other"}'),
    ("error", "boom"), ("created", "2000-01-01T00:00:00+00:00"), ("key", "k2"), ("checksum", None)])
def test_every_column_is_covered(store, column, value):
    sql(store.path, f"UPDATE cells SET {column} = ?", (value,))
    key = value if column == "key" else "k1"
    with pytest.raises(CorruptRecordError, match="has no checksum" if value is None else "does not match"):
        store.get_cell(key)


def test_get_cell_refuses_an_unknown_mismatch_policy(store):
    with pytest.raises(ValueError, match="'raise' or 'missing'"):
        store.get_cell("k1", on_mismatch="ignore")


def test_relabelling_reseals_but_never_a_tampered_record(store):
    store.update_labels("k1", "new :: pgd", {"row_id": "new", "column": "pgd"})
    rec = store.get_cell("k1")
    assert (rec["cell_id"], rec["meta"], rec["payload"]["robust_accuracy"]) == ("new :: pgd", {"row_id": "new",
                                                                                             "column": "pgd"}, 0.25)
    sql(store.path, "UPDATE cells SET payload = replace(payload, '0.25', '0.75')")
    (before,) = sql(store.path, "SELECT checksum FROM cells")
    with pytest.raises(CorruptRecordError):
        store.update_labels("k1", "again", {"row_id": "again"})
    assert sql(store.path, "SELECT checksum, cell_id FROM cells") == [(before[0], "new :: pgd")]


def test_a_store_from_before_checksums_is_sealed_on_its_first_writable_open(tmp_path):
    path = tmp_path / "results.sqlite"
    conn = sqlite3.connect(str(path))
    conn.executescript(OLD_SCHEMA)
    row = ("k1", "clean", "row :: clean", "ok", '{"clean_accuracy": 0.5}', '{"row_id": "row"}', None,
           "2024-01-01T00:00:00+00:00")
    conn.execute("INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    conn.execute("INSERT INTO runs VALUES ('r1', 'tiny', '1', 'then', 'later', 'ok', '[\"k1\"]', NULL)")
    conn.commit()
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    old = ResultsStore(path, readonly=True)  # read-only: read unverified, nothing written
    assert old.get_cell("k1")["payload"] == {"clean_accuracy": 0.5}
    assert old.latest_run("tiny")["pid"] is None
    old.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    ResultsStore(path).close()
    assert sql(path, "SELECT checksum FROM cells") == [(record_checksum(*row),)]
    assert {"pid", "host"} <= {r[1] for r in sql(path, "PRAGMA table_info(runs)")}
    store = ResultsStore(path)
    assert store.get_cell("k1")["payload"] == {"clean_accuracy": 0.5}
    assert store.latest_run("tiny")["cell_keys"] == ["k1"]
    store.close()


# --------------------------------------------------------------------------- runs of killed processes
def test_runs_whose_process_is_gone_are_marked_interrupted(tmp_path):
    store = ResultsStore(tmp_path / "results.sqlite")
    store.start_run("done", "tiny", "1", [])
    store.finish_run("done", "ok", ["k"])
    for run_id in ("killed", "alive", "elsewhere", "legacy"):
        store.start_run(run_id, "tiny", "1", [])
    store.close()
    assert sql(store.path, "SELECT pid, host FROM runs WHERE run_id = 'alive'") == [(os.getpid(), this_host())]
    gone = dead_pid()
    sql(store.path, "UPDATE runs SET pid = ? WHERE run_id IN ('killed', 'elsewhere')", (gone,))
    sql(store.path, "UPDATE runs SET host = 'another-machine' WHERE run_id = 'elsewhere'")
    sql(store.path, "UPDATE runs SET pid = NULL, host = NULL WHERE run_id = 'legacy'")
    expected = {"done": "ok", "killed": "interrupted", "alive": "running", "elsewhere": "running", "legacy": "running"}

    reader = ResultsStore(store.path, readonly=True)  # reports it without writing
    assert {r["run_id"]: r["status"] for r in reader.list_runs()} == expected
    reader.close()
    assert sql(store.path, "SELECT status FROM runs WHERE run_id = 'killed'") == [("running",)]

    again = ResultsStore(store.path)  # a writable open records it
    assert {r["run_id"]: r["status"] for r in again.list_runs()} == expected
    assert again.latest_run("tiny")["run_id"] == "done"  # an interrupted run never becomes the one shown
    again.close()
    assert sql(store.path, "SELECT status FROM runs WHERE run_id = 'killed'") == [("interrupted",)]


def test_store_runs_lists_an_interrupted_run(workdir, capsys):
    store = ResultsStore(workdir / "results.sqlite")
    store.start_run("killed-run", "tiny", "1", [])
    store.close()
    sql(workdir / "results.sqlite", "UPDATE runs SET pid = ? WHERE run_id = 'killed-run'", (dead_pid(),))
    assert main(["store", "runs", "--workdir", str(workdir)]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["killed-run"][-2:] == ["interrupted", "0"]
    assert [fields[-2] for run_id, fields in lines.items() if run_id != "killed-run"] == ["ok"]


# --------------------------------------------------------------------------- leftover build folders
def test_a_build_removes_the_folders_of_killed_builds_only(tmp_path):
    from bench.leaderboard.staging import make_staging_dir

    suite_dir = tmp_path / "lb" / "tiny"
    mine, gone = host_tag(this_host()), dead_pid()
    names = {"killed": f".v1.{gone}-{mine}.abcd1234.tmp", "running": f".v2.{os.getpid()}-{mine}.abcd1234.tmp",
             "other-host": f".v3.{gone}-{host_tag('another-machine')}.abcd1234.tmp",
             "old-unowned": ".v4.abcd1234.tmp", "new-unowned": ".v5.abcd1234.tmp"}
    for name in names.values():
        (suite_dir / name).mkdir(parents=True)
        (suite_dir / name / "rows.jsonl").write_text("{}\n")
    two_days_ago = time.time() - 2 * 86400
    os.utime(suite_dir / names["old-unowned"], (two_days_ago, two_days_ago))
    staging = make_staging_dir(suite_dir, "v9")
    left = {p.name for p in suite_dir.iterdir()}
    assert left == {names["running"], names["other-host"], names["new-unowned"], staging.name}
    assert staging.name.startswith(f".v9.{os.getpid()}-{mine}.") and staging.name.endswith(".tmp")


# --------------------------------------------------------------------------- robarena store check
def _tamper_attack(workdir: Path) -> str:
    """Raise the stored robust accuracy of the attack cell to 0.9; return its key."""
    path = workdir / "results.sqlite"
    ((key, payload),) = sql(path, "SELECT key, payload FROM cells WHERE stage = 'attack'")
    payload = json.loads(payload)
    payload["robust_accuracy"] = 0.9
    sql(path, "UPDATE cells SET payload = ? WHERE key = ?", (json.dumps(payload, sort_keys=True), key))
    return key


def test_store_check_finds_a_tampered_record_and_repair_lets_a_rerun_recompute_it(workdir, capsys, testkit):
    import bench
    from bench.runner.results import load_rows

    path = workdir / "results.sqlite"
    assert main(["store", "check", "--workdir", str(workdir)]) == 0
    assert "no problems found" in capsys.readouterr().out
    original = load_rows(workdir, "tiny")[0].model_dump(exclude={"provenance": {"date"}})
    key = _tamper_attack(workdir)
    count = sql(path, "SELECT COUNT(*) FROM cells")[0][0]

    assert main(["show", "tiny", ROW, "--workdir", str(workdir)]) == 2  # refused, not shown
    err = capsys.readouterr().err
    assert err.startswith("ERROR: cell record") and key in err and "--repair" in err and "Traceback" not in err

    assert main(["store", "check", "--workdir", str(workdir)]) == 1
    out = capsys.readouterr().out
    assert f"(key {key}): does not match its checksum" in out and "1 problem(s)" in out
    assert sql(path, "SELECT COUNT(*) FROM cells")[0][0] == count  # checking deletes nothing

    assert main(["store", "check", "--workdir", str(workdir), "--repair"]) == 1
    assert "deleted 1 broken record(s)" in capsys.readouterr().out
    assert sql(path, "SELECT COUNT(*) FROM cells WHERE key = ?", (key,)) == [(0,)]
    assert sql(path, "SELECT COUNT(*) FROM cells")[0][0] == count - 1

    again = bench.run(_suite(workdir), workdir=workdir, plugins=testkit, device="cpu")
    assert again.computed == 1  # only the deleted cell
    assert load_rows(workdir, "tiny")[0].model_dump(exclude={"provenance": {"date"}}) == original
    assert main(["store", "check", "--workdir", str(workdir)]) == 0


def _suite(workdir: Path) -> str:
    from store_helpers import SUITE_TOML

    path = workdir.parent / "tiny.toml"
    path.write_text(SUITE_TOML, encoding="utf-8")
    return str(path)


def test_store_check_finds_a_corrupted_artifact_and_repair_removes_it(workdir, capsys):
    path = workdir / "results.sqlite"
    ((key, payload),) = sql(path, "SELECT key, payload FROM cells WHERE stage = 'attack'")
    digest = json.loads(payload)["arrays"]
    blob = workdir / "cache" / "objects" / digest[:2] / digest
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    assert main(["store", "check", "--workdir", str(workdir)]) == 1
    assert f"artifact arrays ({digest[:12]}" in capsys.readouterr().out and blob.exists()
    keys = {k for (k,) in sql(path, "SELECT key FROM cells")}
    assert main(["store", "check", "--workdir", str(workdir), "--repair"]) == 1
    assert {k for (k,) in sql(path, "SELECT key FROM cells")} == keys - {key} and not blob.exists()


def test_store_check_sets_a_run_with_a_damaged_cell_list_aside(workdir, capsys):
    path = workdir / "results.sqlite"
    sql(path, "UPDATE runs SET cell_keys = '[\"abc'")
    assert main(["show", "tiny", ROW, "--workdir", str(workdir)]) == 2
    assert "has a damaged cell list" in capsys.readouterr().err
    assert main(["store", "check", "--workdir", str(workdir), "--repair"]) == 1
    assert "set 1 damaged run(s) aside" in capsys.readouterr().out
    assert sql(path, "SELECT status FROM runs") == [("damaged",)]
    assert main(["show", "tiny", ROW, "--workdir", str(workdir)]) == 2
    assert "no finished run of suite 'tiny'" in capsys.readouterr().err
