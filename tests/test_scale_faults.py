"""Fault tolerance, for real: SIGKILL and resume, concurrent runs on one work directory,
corrupted artifacts, out-of-memory retries, planted pickles and suites that try to run code."""
import json
import pickle
import re
import signal
import sqlite3
import time

import pytest
import torch
from runner_helpers import tiny_suite
from scale_helpers import kits, robarena, row_dump, store_cells, write_suite  # noqa: F401 (fixture)

import bench
from bench.errors import UsageError
from bench.runner.models import check_factory
from bench.runner.results import load_rows
from bench.store.cache import ArtifactCache

EPOCHS = 60


def fault_suite():
    """Two trainings long enough (60 epochs, one partial checkpoint each) to be killed in the middle of."""
    return tiny_suite(models=[{"id": "tiny-conv"}], probes=[{"id": "confidence"}],
                      defenses=[{"id": "erm"}, {"id": "erm", "label": "erm-b", "train": {"lr": 0.05}}],
                      attacks=[{"id": "sign", "eps": [0.05, 0.1]}],
                      train={"epochs": EPOCHS, "batch_size": 32, "lr": 0.1})


N_CELLS = 10  # 2 x (train, clean, 2 attacks, probe)


_BASELINE = {}


@pytest.fixture
def baseline(tmp_path_factory, kits):
    """The fault suite as a TOML file and an uninterrupted run of it in its own work directory (once)."""
    if not _BASELINE:
        root = tmp_path_factory.mktemp("baseline")
        suite = write_suite(root / "fault.toml", fault_suite())
        res = bench.run(str(suite), workdir=root / "wd", plugins=kits)
        assert res.ok and res.computed == N_CELLS
        _BASELINE.update(path=suite, workdir=root / "wd", rows=row_dump(res.rows), cells=store_cells(root / "wd"))
    return _BASELINE


def count_cells(workdir) -> int:
    try:
        conn = sqlite3.connect(f"file:{workdir / 'results.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM cells WHERE status = 'ok'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for(proc, condition, what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}:\n" + proc.communicate()[0]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_sigkill_in_the_middle_of_a_training_resumes_to_exactly_the_uninterrupted_rows(tmp_path, kits, baseline):
    wd = tmp_path / "wd"
    victim = robarena("run", str(baseline["path"]), "--workdir", str(wd), "--no-progress")
    # kill once the first model's cells are stored and the second training has saved an epoch
    wait_for(victim, lambda: count_cells(wd) >= 2 and list((wd / "partial").glob("*.pt")), "it could be killed")
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    stored = store_cells(wd)
    (partial,) = (wd / "partial").glob("*.pt")
    state = torch.load(partial, weights_only=True)
    epoch = state["epoch"]
    assert 2 <= len(stored) < N_CELLS and 1 <= epoch < EPOCHS
    assert len(state["log"]["train_loss"]) == epoch  # the checkpoint carries the log so far
    state["log"]["marker"] = "from the partial checkpoint"  # shows below that the training resumed from it
    torch.save(state, partial)

    resumed = bench.run(str(baseline["path"]), workdir=wd, plugins=kits)  # what `robarena run` calls
    # resume cost: every stored cell is reused; the killed training continues after its last saved epoch
    assert (resumed.computed, resumed.cached, len(resumed.failures)) == (N_CELLS - len(stored), len(stored), 0)
    (retrained,) = [k for k, r in store_cells(wd).items() if r["stage"] == "train" and k not in stored]
    logs = []
    for workdir in (wd, baseline["workdir"]):
        conn = sqlite3.connect(str(workdir / "results.sqlite"))
        (log,) = conn.execute("SELECT json_extract(payload, '$.log') FROM cells WHERE key = ?", (retrained,)).fetchone()
        conn.close()
        logs.append(json.loads(log))
    assert logs[0].pop("marker") == "from the partial checkpoint"  # resumed, not trained again from scratch
    assert logs[0] == logs[1] and len(logs[0]["train_loss"]) == EPOCHS  # the whole log, as uninterrupted
    assert not list((wd / "partial").glob("*"))

    assert store_cells(wd) == baseline["cells"]  # same keys and payloads: nothing lost, nothing duplicated
    assert row_dump(resumed.rows) == row_dump(load_rows(wd, "tiny")) == baseline["rows"]
    assert sorted(r.row_id for r in resumed.rows) == ["digits/tiny-conv/erm-b/seed0", "digits/tiny-conv/erm/seed0"]


def test_two_concurrent_runs_on_one_work_directory(tmp_path, kits, baseline):
    """A `robarena run` subprocess and an in-process run of the same suite write one work directory at once
    (both train the same cells, sharing partial checkpoints and the store)."""
    wd = tmp_path / "wd"
    other = robarena("run", str(baseline["path"]), "--workdir", str(wd), "--no-progress")
    wait_for(other, lambda: list((wd / "partial").glob("*.pt")), "its first training started")
    mine = bench.run(str(baseline["path"]), workdir=wd, plugins=kits)
    out, _ = other.communicate(timeout=300)
    assert other.returncode == 0, out
    assert mine.ok and "0 failed" in out
    conn = sqlite3.connect(str(wd / "results.sqlite"))
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'ok'").fetchone() == (2,)
    conn.close()
    assert store_cells(wd) == baseline["cells"]
    assert row_dump(mine.rows) == row_dump(load_rows(wd, "tiny")) == baseline["rows"]
    assert not list((wd / "partial").glob("*"))  # no temporary epoch checkpoint left behind


def test_a_corrupted_checkpoint_is_retrained_bit_for_bit(tmp_path, kits):
    first = bench.run(tiny_suite(), workdir=tmp_path, plugins=kits)
    digest = first.rows[0].artifacts["checkpoint"]
    path = ArtifactCache(tmp_path / "cache").path(digest)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one bit in a weight: same size, still parses as safetensors; only the hash can tell
    path.write_bytes(bytes(data))
    again = bench.run(tiny_suite(), workdir=tmp_path, plugins=kits)
    assert again.computed == 1  # the training only: downstream keys name the training, not its bytes
    assert ArtifactCache(tmp_path / "cache").get_bytes(digest)  # the same bytes again
    assert row_dump(again.rows) == row_dump(first.rows)


# --------------------------------------------------------------------------- out of memory
def test_out_of_memory_evaluation_is_retried_with_halved_batches(tmp_path, kits):
    import robarena_scalekit

    robarena_scalekit.SEEN["attack"].clear()
    suite = tiny_suite(attacks=[{"id": "sign", "eps": 0.1, "params": {"steps": 3}},
                                {"id": "oom-sign", "eps": 0.1, "params": {"steps": 3, "max_batch": 10}}])
    res = bench.run(suite, workdir=tmp_path / "a", plugins=kits)  # eval: 60 examples in batches of 32
    assert res.ok
    # 32 and 16 run out of memory on the first batch; 8 works: 7 batches of 8 and one of 4
    assert robarena_scalekit.SEEN["attack"] == [32, 16] + [8] * 7 + [4]
    cells = {c["meta"].get("attack"): c for c in store_cells(tmp_path / "a").values() if c["stage"] == "attack"}
    assert cells["oom-sign"]["meta"]["batch_size_used"] == 8 and "batch_size_used" not in cells["sign"]["meta"]
    # the retried cell is the sign attack computed with batches of 8 (a deterministic attack: same x_adv)
    small = bench.run(tiny_suite(eval={"n": 60, "batch_size": 8}), workdir=tmp_path / "b", plugins=kits)
    (ref,) = [c for c in store_cells(tmp_path / "b").values() if c["stage"] == "attack"]
    load = lambda wd, c: ArtifactCache(wd / "cache").get_tensors(c["payload"]["arrays"])["x_adv"]  # noqa: E731
    assert torch.equal(load(tmp_path / "a", cells["oom-sign"]), load(tmp_path / "b", ref))
    assert res.rows[0].robust["oom-sign Linf 0.1"] == small.rows[0].robust["sign Linf 0.1"]


def test_out_of_memory_at_batch_one_is_recorded_as_failed(tmp_path, kits):
    import robarena_scalekit

    robarena_scalekit.SEEN["probe"].clear()
    res = bench.run(tiny_suite(probes=[{"id": "oom-probe"}]), workdir=tmp_path, plugins=kits)
    assert robarena_scalekit.SEEN["probe"] == [32, 16, 8, 4, 2, 1]
    (failure,) = res.failures
    assert failure.stage == "probe" and "out of memory even with evaluation batches of 1" in failure.error
    assert res.rows[0].robust["sign Linf 0.1"] is not None  # the other cells are unaffected


def test_out_of_memory_in_training_is_not_retried(tmp_path, kits):
    import robarena_scalekit

    robarena_scalekit.SEEN["defense"].clear()
    res = bench.run(tiny_suite(defenses=[{"id": "oom-train"}]), workdir=tmp_path, plugins=kits)
    assert robarena_scalekit.SEEN["defense"] == [32]  # the training batch is part of the cell: no halving
    assert res.failures[0].stage == "train" and "OutOfMemoryError" in res.failures[0].error


# --------------------------------------------------------------------------- planted pickles
class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def exploit_bytes(marker) -> bytes:
    payload = pickle.dumps({"weight": _Exploit(marker)})
    pickle.loads(payload)  # the exploit works when unpickled ...
    assert marker.exists()
    marker.unlink()  # ... so its marker's absence below means it was never unpickled
    return payload


def test_a_pickle_planted_in_the_cache_is_never_unpickled(tmp_path, kits):
    marker = tmp_path / "pwned"
    first = bench.run(tiny_suite(), workdir=tmp_path / "wd", plugins=kits)
    digest = first.rows[0].artifacts["checkpoint"]
    cache = ArtifactCache(tmp_path / "wd" / "cache")
    cache.path(digest).write_bytes(exploit_bytes(marker))  # replaces the checkpoint's safetensors
    again = bench.run(tiny_suite(), workdir=tmp_path / "wd", plugins=kits)
    assert not marker.exists()
    assert again.computed == 1 and row_dump(again.rows) == row_dump(first.rows)  # refused by hash, retrained
    # a record rewritten to the pickle's own digest passes the hash check; safetensors still refuses it
    evil = cache.put_bytes(exploit_bytes(marker))
    conn = sqlite3.connect(str(tmp_path / "wd" / "results.sqlite"))
    conn.execute("UPDATE cells SET payload = json_set(payload, '$.checkpoint', ?) WHERE stage = 'train'", (evil,))
    conn.execute("ALTER TABLE cells DROP COLUMN checksum")  # a store from before checksums: sealed as it is when opened
    conn.commit()
    conn.close()
    tampered = bench.run(tiny_suite(), workdir=tmp_path / "wd", plugins=kits)
    assert not marker.exists()
    assert tampered.failures and tampered.failures[0].stage == "train"
    assert "CorruptArtifactError" in tampered.failures[0].error
    assert "is not a safetensors file" in tampered.failures[0].error


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the exploit is a protocol-4 pickle
def test_a_pickle_planted_as_a_partial_epoch_checkpoint_is_never_unpickled(tmp_path, kits):
    marker = tmp_path / "pwned"
    reference = bench.run(tiny_suite(), workdir=tmp_path / "ref", plugins=kits)
    (train_key,) = [k for k, c in store_cells(tmp_path / "ref").items() if c["stage"] == "train"]
    partial = tmp_path / "wd" / "partial" / f"{train_key}.pt"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(exploit_bytes(marker))
    res = bench.run(tiny_suite(), workdir=tmp_path / "wd", plugins=kits)
    assert not marker.exists()  # torch.load(weights_only=True) refused it; training started from scratch
    assert not partial.exists() and row_dump(res.rows) == row_dump(reference.rows)


# --------------------------------------------------------------------------- suites are data
def test_a_suite_file_cannot_run_a_command_through_module_factory(tmp_path, kits):
    from safetensors.torch import save_file

    marker = tmp_path / "pwned"
    save_file({"w": torch.zeros(1)}, str(tmp_path / "c.safetensors"))
    suite = write_suite(tmp_path / "evil.toml", {
        "name": "evil", "attacks": [{"id": "sign", "eps": 0.1}],
        "pretrained": [{"label": "x", "arch": "os:system", "arch_params": {"command": f"touch {marker}"},
                        "checkpoint": str(tmp_path / "c.safetensors"), "dataset": "core/digits"}]})
    with pytest.raises(UsageError, match="refusing to call into the standard library module 'os'"):
        bench.run(str(suite), workdir=tmp_path / "wd", plugins=kits)  # refused while planning: no run recorded
    assert not marker.exists()
    assert not (tmp_path / "wd" / "results.sqlite").exists()


@pytest.mark.parametrize("arch, message", [
    ("subprocess:getoutput", "standard library module 'subprocess'"),
    ("builtins:exec", "standard library module 'builtins'"),
    ("pandas:read_pickle", "installed package 'pandas'"),
    ("torch:load", "installed package 'torch'"),
    ("no_such_module_xyz:make", "no module named 'no_such_module_xyz'"),
])
def test_module_factory_policy_refuses_before_importing(arch, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        check_factory(arch)


def test_trusted_modules_still_need_a_function_or_module_class(tmp_path, kits, monkeypatch):
    from bench.registry import get_registry
    from bench.runner.models import build_arch

    monkeypatch.setenv("ROBARENA_TRUSTED_MODULES", "pandas")
    assert check_factory("pandas:DataFrame") == "trusted"
    with pytest.raises(UsageError, match="not a Python function or an nn.Module class"):
        build_arch("pandas:DataFrame", get_registry(kits), (1, 8, 8), 10)
    assert check_factory("byo_factory:make") == "marked"  # the user's own code, with @bench.model_factory
    monkeypatch.delenv("ROBARENA_TRUSTED_MODULES")
    with pytest.raises(UsageError, match="--trust-module pandas"):
        check_factory("pandas:DataFrame")
    with pytest.raises(UsageError, match="would make timm load weights"):  # timm's own loaders are off limits
        build_arch("timm/resnet10t", get_registry(kits), (3, 32, 32), 10, {"checkpoint_path": "x.pth"})


def test_stale_partial_checkpoints_of_dead_writers_are_removed(tmp_path):
    """A kill during an epoch save leaves `<key>.pt.<pid>.tmp`; a later finished training removes it,
    but never a file whose writer is still alive (a concurrent run's)."""
    import os
    import subprocess
    import sys

    from bench.runner.stages.partials import remove_stale_partials

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / "key.pt"
    stale, live = tmp_path / f"key.pt.{int(dead.stdout)}.tmp", tmp_path / f"key.pt.{os.getpid()}.tmp"
    other = tmp_path / "otherkey.pt.1.tmp"
    for f in (stale, live, other):
        f.write_bytes(b"x")
    remove_stale_partials(path)
    assert not stale.exists() and live.exists() and other.exists()
