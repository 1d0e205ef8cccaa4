"""Ray executor: a real local Ray instance gives the in-process executor's rows and store records."""
import os
import sqlite3

import pytest
import ray
import torch
from runner_helpers import tiny_suite
from scale_helpers import kit_env, kits, robarena, row_dump, store_cells, write_suite  # noqa: F401 (fixture)

import bench
from bench.errors import UsageError
from bench.runner.executors import ray as ray_executor
from bench.runner.results import load_rows
from bench.store.cache import ArtifactCache


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs) for the module; workers find the test plugins on PYTHONPATH."""
    env = {k: v for k, v in kit_env().items() if k in ("PYTHONPATH", "ROBARENA_DISABLE_PLUGIN_AUTOLOAD")}
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # as in process (Ray's default is 1 per task)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def bad_mnist(tmp_path_factory):
    """An MNIST root whose files are present (the plan's checks pass) but are not IDX files: loading fails."""
    root = tmp_path_factory.mktemp("mnist")
    (root / "MNIST" / "raw").mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (root / "MNIST" / "raw" / name).write_bytes(b"not an idx file")
    return str(root)


def ray_suite(bad_mnist):
    """Every dependency shape: failed training, a dataset that does not load, eps list, a transfer attack
    (substitute), an OOM retry, a probe that reads the row's adversarial examples."""
    return tiny_suite(
        datasets=[{"id": "core/digits", "params": {"n_train": 300, "n_test": 60}},
                  {"id": "core/mnist", "params": {"root": bad_mnist, "verify": False}}],
        defenses=[{"id": "erm"}, {"id": "broken"}],
        attacks=[{"id": "sign", "eps": [0.05, 0.1]},
                 {"id": "oom-sign", "eps": 0.1, "params": {"max_batch": 10}},
                 {"id": "sign", "label": "transfer", "eps": 0.1,
                  "substitute": {"model": "tiny-linear", "defense": "erm", "train": {"lr": 0.05}}}],
        probes=[{"id": "confidence"}, {"id": "adv-gap"}])


def test_cli_ray_executor_starts_a_local_instance_with_the_same_keys(tmp_path, kits):
    """`robarena run --executor ray` starts (and stops) its own Ray: an in-process re-run finds every cell."""
    suite = write_suite(tmp_path / "tiny.toml", tiny_suite())
    proc = robarena("run", str(suite), "--workdir", str(tmp_path / "wd"), "--no-progress",
                    "--executor", "ray", "--ray-num-cpus", "2")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "4 cell(s) computed, 0 from cache, 0 failed" in out
    again = bench.run(str(suite), workdir=tmp_path / "wd", plugins=kits)
    assert again.computed == 0 and again.cached == 4  # the workers wrote the in-process executor's keys
    assert row_dump(again.rows) == row_dump(load_rows(tmp_path / "wd", "tiny"))


def test_ray_gives_the_in_process_rows_and_records(tmp_path, kits, local_ray, bad_mnist):
    inproc = bench.run(ray_suite(bad_mnist), workdir=tmp_path / "a", plugins=kits)
    on_ray = bench.run(ray_suite(bad_mnist), workdir=tmp_path / "b", plugins=kits, executor="ray")
    assert row_dump(on_ray.rows) == row_dump(inproc.rows)  # metrics, flags, errors, artifacts digests
    assert store_cells(tmp_path / "b") == store_cells(tmp_path / "a")  # same keys, payloads and labels
    assert (on_ray.computed, on_ray.cached) == (inproc.computed, inproc.cached)
    assert [(f.cell_id, f.error) for f in on_ray.failures] == [(f.cell_id, f.error) for f in inproc.failures]
    # failed training -> its dependents failed with the upstream error, as in process
    broken = next(r for r in on_ray.rows if r.defense == "broken" and r.dataset == "digits")
    assert broken.clean_accuracy is None and all("this defense always fails" in e for e in broken.errors)
    missing = [r for r in on_ray.rows if r.dataset == "mnist"]  # failed on the driver: nothing to submit
    assert len(missing) == 2 and all("not a valid IDX file" in e for r in missing for e in r.errors)
    # the worker retried the out-of-memory attack with halved batches: 32 -> 16 -> 8
    oom = [c for c in store_cells(tmp_path / "b").values() if c["meta"].get("attack") == "oom-sign"
           and c["status"] == "ok"]
    assert [c["meta"]["batch_size_used"] for c in oom] == [8]
    # the driver is the only writer: one record per cell plus the substitute's training
    assert len(store_cells(tmp_path / "b")) == on_ray.plan.n_cells + 1


def test_ray_eps_sweep_with_reuse_matches_in_process(tmp_path, kits, local_ray):
    """eval.reuse_smaller_eps: each eps's task waits for the next smaller one's, whatever the listed order."""
    suite = tiny_suite(attacks=[{"id": "sign", "eps": [0.2, 0.1, 0.02, 0.05]}], probes=[{"id": "adv-gap"}],
                       eval={"n": 60, "batch_size": 32, "reuse_smaller_eps": True})
    inproc = bench.run(suite, workdir=tmp_path / "a", plugins=kits)
    on_ray = bench.run(suite, workdir=tmp_path / "b", plugins=kits, executor="ray")
    assert inproc.ok and on_ray.ok
    assert row_dump(on_ray.rows) == row_dump(inproc.rows)
    cells = store_cells(tmp_path / "b")
    assert cells == store_cells(tmp_path / "a") and len(cells) == on_ray.plan.n_cells
    assert sum(c["payload"].get("reused_smaller_eps", 0) for c in cells.values()) > 0


def test_ray_rerun_computes_only_missing_or_corrupt_cells(tmp_path, kits, local_ray, bad_mnist):
    first = bench.run(ray_suite(bad_mnist), workdir=tmp_path, plugins=kits, executor="ray")
    rec = next(c for c in store_cells(tmp_path).values() if c["meta"].get("column") == "sign Linf 0.1"
               and c["status"] == "ok")
    path = ArtifactCache(tmp_path / "cache").path(rec["payload"]["arrays"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped: only the hash can tell
    path.write_bytes(bytes(data))
    sharing = [c for c in store_cells(tmp_path).values() if c["status"] == "ok"
               and c["payload"].get("arrays") == rec["payload"]["arrays"]]
    assert len(sharing) == 2  # content-addressed: oom-sign (retried at batch 8) made the same bytes
    again = bench.run(ray_suite(bad_mnist), workdir=tmp_path, plugins=kits, executor="ray")
    assert again.computed == len(sharing)  # those cells only (failed cells are retried and fail again)
    assert row_dump(again.rows) == row_dump(first.rows)
    assert ArtifactCache(tmp_path / "cache").has(rec["payload"]["arrays"])
    conn = sqlite3.connect(str(tmp_path / "results.sqlite"))
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_ray_tasks_declare_gpus_only_on_cuda():
    assert ray_executor.task_options(torch.device("cpu"), 1.0) == {"num_cpus": 1, "num_gpus": 0}
    assert ray_executor.task_options(torch.device("cuda"), 1.0) == {"num_cpus": 1, "num_gpus": 1.0}
    assert ray_executor.task_options(torch.device("cuda:1"), 0.5) == {"num_cpus": 1, "num_gpus": 0.5}
    with pytest.raises(UsageError, match="ray-gpus-per-task"):
        ray_executor.task_options(torch.device("cuda"), 0)


def test_ray_init_arguments_and_option_errors(tmp_path, kits, monkeypatch):
    monkeypatch.setenv("ROBARENA_TRUSTED_MODULES", "mymodels")
    local = ray_executor.ray_init_args(None, 3)
    assert local["num_cpus"] == 3 and local["include_dashboard"] is False
    assert local["runtime_env"]["env_vars"]["ROBARENA_TRUSTED_MODULES"] == "mymodels"  # workers see the driver's
    assert ray_executor.ray_init_args(None, None)["num_cpus"] == os.cpu_count()
    cluster = ray_executor.ray_init_args("ray://head:10001", None)
    assert cluster["address"] == "ray://head:10001" and "num_cpus" not in cluster
    with pytest.raises(UsageError, match="--ray-num-cpus sizes a local Ray instance"):
        ray_executor.ray_init_args("auto", 2)
    with pytest.raises(UsageError, match="unknown executor 'dask'"):
        bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, executor="dask")
    with pytest.raises(UsageError, match="apply to --executor ray"):
        bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, address="auto")
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(UsageError, match=r"pip install 'robarena\[ray\]'"):
        bench.run(tiny_suite(), workdir=tmp_path, plugins=kits, executor="ray")


@pytest.mark.gpu
def test_ray_on_cuda_with_amp_and_channels_last_matches_in_process(tmp_path, kits, local_ray):
    inproc = bench.run(tiny_suite(), workdir=tmp_path / "a", plugins=kits, device="cuda", amp=True,
                       channels_last=True)
    on_ray = bench.run(tiny_suite(), workdir=tmp_path / "b", plugins=kits, device="cuda", amp=True,
                       channels_last=True, executor="ray")
    assert inproc.ok and on_ray.ok
    assert [r.robust for r in on_ray.rows] == [r.robust for r in inproc.rows]
