"""CIFAR-10/100 from python pickles in the official layout, through torchvision (the same code path as real files)."""
import pickle

import numpy as np
import pytest
import torch

from bench.data.cifar import CIFAR10, CIFAR100
from bench.data.files import DatasetChecksumError
from bench.errors import DatasetNotFoundError
from data_fakes import checksums, write_cifar10, write_cifar100

OFFICIAL_CIFAR10_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f", "test_batch": "40351d587109b95175f43aff81a1287e",
                        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}


def verified(cls, root, written):
    """The dataset class with a checksum table of the files just written (the official table otherwise)."""
    files = sorted(p for p in written["dir"].iterdir())
    return type(cls.__name__, (cls,), {"checksums": checksums(root, files)})


@pytest.fixture
def c10(tmp_path):
    return write_cifar10(tmp_path)


def test_cifar10_loads_pixels_labels_and_names_from_the_pickles(tmp_path, c10):
    data = verified(CIFAR10, tmp_path, c10)(CIFAR10.Config(root=str(tmp_path)))()
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # Independent reading of the format: row i, byte c*1024 + r*32 + k is channel c, row r, column k.
    with open(c10["dir"] / "data_batch_2", "rb") as f:
        flat = pickle.load(f, encoding="latin1")["data"]
    for (i, c, r, k) in [(0, 0, 0, 0), (3, 1, 5, 31), (5, 2, 31, 7)]:
        assert data.x_train[6 + i, c, r, k].item() == pytest.approx(flat[i, c * 1024 + r * 32 + k] / 255.0)
    assert torch.equal(data.x_train, torch.from_numpy(c10["x_train"]).float() / 255)
    assert data.y_train.tolist() == c10["y_train"] and data.y_test.tolist() == c10["y_test"]
    assert data.class_names == c10["classes"] and data.num_classes == 10
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_cifar100_uses_fine_labels_and_fine_names(tmp_path):
    w = write_cifar100(tmp_path)
    data = verified(CIFAR100, tmp_path, w)(CIFAR100.Config(root=str(tmp_path)))()
    assert data.num_classes == 100 and data.class_names == w["classes"]
    assert data.y_train.tolist() == w["y_train"] and data.y_test.tolist() == w["y_test"]
    assert torch.equal(data.x_test, torch.from_numpy(w["x_test"]).float() / 255)


def test_missing_root_names_every_expected_file_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        CIFAR10(CIFAR10.Config(root=str(tmp_path / "nowhere")))()
    msg = str(err.value)
    for name in ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"]:
        assert str(tmp_path / "nowhere" / "cifar-10-batches-py" / name) in msg
    assert "not found" in msg and "7 of 7 missing" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg and "download = true" in msg


def test_incomplete_root_marks_exactly_the_missing_file(tmp_path, c10):
    (c10["dir"] / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False))()
    lines = str(err.value).splitlines()
    assert "incomplete" in lines[0] and "1 of 7 missing" in str(err.value)
    missing = [ln for ln in lines if ln.endswith("MISSING")]
    assert len(missing) == 1 and "data_batch_3" in missing[0]


def test_official_checksums_reject_files_that_differ(tmp_path, c10):
    """The default table is torchvision's official md5s: the fake files must be reported, file by file."""
    with pytest.raises(DatasetChecksumError) as err:
        CIFAR10(CIFAR10.Config(root=str(tmp_path)))()
    msg = str(err.value)
    for name, md5 in OFFICIAL_CIFAR10_MD5.items():
        assert name in msg and md5 in msg
    assert "7 file(s)" in msg and "verify = false" in msg


def test_a_corrupted_file_is_caught_by_its_checksum(tmp_path, c10):
    cls = verified(CIFAR10, tmp_path, c10)
    path = c10["dir"] / "test_batch"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DatasetChecksumError, match="(?s)1 file\\(s\\).*test_batch"):
        cls(CIFAR10.Config(root=str(tmp_path)))()


def test_verify_false_loads_unofficial_files(tmp_path, c10):
    data = CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False))()
    assert data.x_train.shape[0] == 30 and data.meta["verified"] is False


def test_fingerprint_is_stable_and_changes_with_one_pixel(tmp_path, c10):
    cfg = CIFAR10.Config(root=str(tmp_path), verify=False)
    a, b = CIFAR10(cfg)(), CIFAR10(cfg)()
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 16
    path = c10["dir"] / "data_batch_4"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    batch["data"] = batch["data"].copy()
    batch["data"][2, 100] ^= 1
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    c = CIFAR10(cfg)()
    assert c.fingerprint != a.fingerprint
    assert int((c.x_train != a.x_train).sum()) == 1


def test_download_is_never_attempted_unless_asked(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    def forbidden(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tvu, "download_url", forbidden)
    monkeypatch.setattr(tvu, "download_and_extract_archive", forbidden)
    with pytest.raises(DatasetNotFoundError):
        CIFAR10(CIFAR10.Config(root=str(tmp_path)))()
    assert not any(tmp_path.iterdir())  # nothing written either


def test_default_root_comes_from_the_environment_then_home(tmp_path, monkeypatch, c10):
    monkeypatch.setenv("ROBARENA_DATA", str(tmp_path))
    assert CIFAR10(CIFAR10.Config(verify=False))().x_test.shape[0] == 10
    monkeypatch.delenv("ROBARENA_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DatasetNotFoundError) as err:
        CIFAR10(CIFAR10.Config(verify=False))()
    assert str(tmp_path / "home" / ".robarena" / "data" / "cifar-10-batches-py" / "data_batch_1") in str(err.value)
    assert "ROBARENA_DATA" in str(err.value)


def test_pixel_order_matches_numpy_reference(tmp_path, c10):
    """NHWC from torchvision back to NCHW: the mean colour of each channel plane is preserved."""
    data = CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False))()
    ref = c10["x_test"].astype(np.float64).mean(axis=(0, 2, 3)) / 255
    assert np.allclose(data.x_test.double().mean(dim=(0, 2, 3)).numpy(), ref)


# --------------------------------------------------------------------------- planted pickles (never executed)
class _Exploit:
    """Unpickling this calls ``pathlib.Path.touch(marker)``: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("name", ["data_batch_2", "test_batch", "batches.meta"])
@pytest.mark.parametrize("verify", [False, True])
def test_a_planted_batch_file_is_never_executed_whatever_verify_says(tmp_path, c10, name, verify):
    from bench.data.safe_pickle import UnsafePickleError

    marker = tmp_path / "PWNED"
    payload = pickle.dumps({"data": _Exploit(marker), "labels": [0]}, protocol=2)
    pickle.loads(payload)  # the exploit works when unpickled ...
    assert marker.exists()
    marker.unlink()  # ... so its absence below means it was never unpickled
    (c10["dir"] / name).write_bytes(payload)
    # verify = true with a table matching the planted file: the md5 passes, the reader still refuses
    cls = verified(CIFAR10, tmp_path, c10) if verify else CIFAR10
    with pytest.raises(UnsafePickleError) as err:
        cls(CIFAR10.Config(root=str(tmp_path), verify=verify))()
    assert not marker.exists()
    msg = str(err.value)
    assert str(c10["dir"] / name) in msg and "it names " in msg and "never executes code" in msg


def test_a_planted_cifar100_file_is_never_executed(tmp_path):
    from bench.data.safe_pickle import UnsafePickleError

    w = write_cifar100(tmp_path)
    marker = tmp_path / "PWNED"
    (w["dir"] / "train").write_bytes(pickle.dumps([_Exploit(marker)], protocol=4))
    with pytest.raises(UnsafePickleError, match="train"):
        CIFAR100(CIFAR100.Config(root=str(tmp_path), verify=False))()
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_pickled_with_any_protocol_load_identically(tmp_path, c10, protocol):
    """Re-pickling the batches (numpy arrays, lists, str) with another protocol changes nothing loaded."""
    before = CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False))()
    for path in c10["dir"].iterdir():
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
    after = CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False))()
    assert torch.equal(before.x_train, after.x_train) and torch.equal(before.y_test, after.y_test)


@pytest.mark.parametrize("damage", ["truncate", "wrong_shape", "bool_labels", "label_out_of_range"])
def test_a_damaged_batch_names_the_file(tmp_path, c10, damage):
    path = c10["dir"] / "data_batch_3"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        if damage == "wrong_shape":
            batch["data"] = batch["data"][:, :100]
        elif damage == "bool_labels":
            batch["labels"] = [True] * len(batch["labels"])
        else:
            batch["labels"] = [10] * len(batch["labels"])
        path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises((DatasetChecksumError, DatasetNotFoundError)) as err:
        CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False))()
    msg = str(err.value)
    assert ("data_batch_3" in msg or str(c10["dir"]) in msg) and "official archive" in msg
