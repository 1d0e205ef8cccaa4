"""A real dataset (CIFAR-10 pickles on disk) through the runner: its fingerprint lands in the row and the cache key."""
import pickle

import bench
from bench.data.cifar import CIFAR10
from data_fakes import write_cifar10
from runner_helpers import tiny_suite


def test_real_dataset_runs_end_to_end_and_its_fingerprint_is_in_the_row(tmp_path, testkit):
    write_cifar10(tmp_path / "data")
    ids = tmp_path / "eval_ids.txt"  # a published evaluation subset, as a file
    ids.write_text("9 0 4 2\n7 1 3 5\n")
    params = {"root": str(tmp_path / "data"), "verify": False, "test_ids": str(ids)}
    suite = tiny_suite(datasets=[{"id": "core/cifar10", "params": params}], eval={"n": 8, "batch_size": 8},
                       train={"epochs": 1, "batch_size": 16, "lr": 0.1})
    res = bench.run(suite, workdir=tmp_path / "wd", plugins=testkit)
    assert res.ok, res.failures
    expected = CIFAR10(CIFAR10.Config(**params))().fingerprint
    assert res.rows[0].provenance.data_fingerprint == expected
    # one changed pixel in the files: a new fingerprint, so the cells are recomputed, not served from cache
    path = tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    batch["data"] = batch["data"].copy()
    batch["data"][0, 0] ^= 1
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    changed = CIFAR10(CIFAR10.Config(**params))().fingerprint
    again = bench.run(suite, workdir=tmp_path / "wd", plugins=testkit)
    assert again.rows[0].provenance.data_fingerprint == changed
    assert changed != expected and again.computed > 0
