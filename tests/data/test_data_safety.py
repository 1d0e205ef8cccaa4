"""Loaders never run code from data files and name the bad file (issue #17, items 1, 3 and 9).

Each security case plants a pickle whose unpickling would create a marker file, and checks that
the loader refuses the file by name and that the marker never appears.
"""
import gzip
import os
import pickle

import numpy as np
import pytest
import scipy.io

from bench.data.files import DatasetChecksumError
from bench.data.folder import ImageFolder
from bench.data.mnist import MNIST
from bench.data.real import read_ids
from bench.data.svhn import SVHN
from bench.errors import ConfigError, DatasetNotFoundError
from data_fakes import idx_bytes, write_mnist, write_png, write_svhn


class Planted:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def planted_pickle(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"data": Planted(marker)}, protocol=2))


# --------------------------------------------------------------------------- MNIST
def test_mnist_idx_file_holding_a_pickle_is_refused_by_name(tmp_path):
    marker = tmp_path / "pwned"
    write_mnist(tmp_path, gz=False, raw=True)
    bad = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    planted_pickle(bad, marker)
    planted_pickle(tmp_path / "MNIST" / "processed" / "training.pt", marker)  # torchvision's legacy cache
    with pytest.raises(DatasetChecksumError, match="not a valid IDX file") as err:
        MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    assert str(bad) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"\x00\x00\x09\x03" + b[4:], "header"),  # wrong magic (type 0x09)
    (lambda b: b[:-5], "the file holds"),  # truncated
    (lambda b: b + b"\x00" * 7, "the file holds"),  # padded
])
def test_mnist_corrupted_idx_files_name_the_file(tmp_path, damage, message):
    write_mnist(tmp_path, gz=False, raw=True)
    bad = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(DatasetChecksumError, match=message) as err:
        MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    assert str(bad) in str(err.value)


def test_mnist_label_count_and_range_are_checked(tmp_path):
    write_mnist(tmp_path, gz=False, raw=True, n_test=10)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(9, np.uint8)))
    with pytest.raises(DatasetChecksumError, match="9 labels for 10 images"):
        MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    labels.write_bytes(idx_bytes(np.full(10, 11, np.uint8)))
    with pytest.raises(DatasetChecksumError, match="label 11, outside 0..9"):
        MNIST(MNIST.Config(root=str(tmp_path), verify=False))()


def test_mnist_corrupted_gzip_archive_is_named_and_leaves_no_partial_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    archive = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    archive.write_bytes(gzip.compress(b"x" * 100)[:20])  # truncated gzip stream
    with pytest.raises(DatasetChecksumError, match="not a valid gzip archive") as err:
        MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    assert str(archive) in str(err.value)
    assert not archive.with_suffix("").exists()
    assert not list(archive.parent.glob("*.tmp"))


# --------------------------------------------------------------------------- SVHN
def test_svhn_mat_file_holding_a_pickle_is_refused_by_name(tmp_path):
    marker = tmp_path / "pwned"
    write_svhn(tmp_path)
    bad = tmp_path / "svhn" / "test_32x32.mat"
    planted_pickle(bad, marker)
    with pytest.raises(DatasetChecksumError, match="scipy cannot read it") as err:
        SVHN(SVHN.Config(root=str(tmp_path), verify=False))()
    assert str(bad) in str(err.value)
    assert not marker.exists()


def test_svhn_mat_file_with_wrong_arrays_is_named(tmp_path):
    write_svhn(tmp_path)
    bad = tmp_path / "svhn" / "train_32x32.mat"
    scipy.io.savemat(bad, {"X": np.zeros((28, 28, 1, 4), np.uint8), "y": np.ones((4, 1), np.uint8)})
    with pytest.raises(DatasetChecksumError, match=r"'X' must be a uint8 array of shape \(32, 32, 3, N\)") as err:
        SVHN(SVHN.Config(root=str(tmp_path), verify=False))()
    assert str(bad) in str(err.value)
    scipy.io.savemat(bad, {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.full((4, 1), 11, np.uint8)})
    with pytest.raises(DatasetChecksumError, match="labels must lie in 1..10"):
        SVHN(SVHN.Config(root=str(tmp_path), verify=False))()


# --------------------------------------------------------------------------- ImageFolder
def _folder(root):
    for split in ("train", "test"):
        for cls in ("a", "b"):
            write_png(root / split / cls / "0.png", np.full((3, 4, 4), 9, np.uint8))


def test_imagefolder_pickle_named_png_is_refused_by_name(tmp_path):
    marker = tmp_path / "pwned"
    _folder(tmp_path)
    bad = tmp_path / "train" / "b" / "1.png"
    planted_pickle(bad, marker)
    with pytest.raises(DatasetChecksumError, match="not a readable image") as err:
        ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    assert str(bad) in str(err.value)
    assert not marker.exists()


def test_imagefolder_truncated_image_is_named(tmp_path):
    _folder(tmp_path)
    write_png(tmp_path / "test" / "a" / "big.png", np.random.default_rng(0).integers(0, 256, (3, 4, 4), np.uint8))
    bad = tmp_path / "test" / "a" / "big.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DatasetChecksumError, match="not a readable image") as err:
        ImageFolder(ImageFolder.Config(root=str(tmp_path), verify=False))()
    assert str(bad) in str(err.value)


def test_imagefolder_never_hands_a_file_to_ghostscript(tmp_path, monkeypatch):
    """PIL identifies files by content: an EPS file named .png would be rendered by Ghostscript."""
    from PIL import EpsImagePlugin

    marker = tmp_path / "ghostscript-ran"
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: marker.touch())
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: marker.touch())
    _folder(tmp_path)
    bad = tmp_path / "train" / "a" / "1.png"
    bad.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\nshowpage\n")
    with pytest.raises(DatasetChecksumError, match="not a readable image") as err:
        ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    assert str(bad) in str(err.value)
    assert not marker.exists()


# --------------------------------------------------------------------------- preflight and id files
def test_real_dataset_preflight_checks_the_root_without_decoding(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(DatasetNotFoundError, match="data root is a file"):
        MNIST(MNIST.Config(root=str(not_a_dir))).preflight()
    with pytest.raises(DatasetNotFoundError, match="MNIST not found") as err:
        MNIST(MNIST.Config(root=str(tmp_path / "nowhere"))).preflight()
    assert "train-images-idx3-ubyte.gz  MISSING" in str(err.value)
    write_mnist(tmp_path)
    MNIST(MNIST.Config(root=str(tmp_path))).preflight()  # present (md5s are checked when loading)
    with pytest.raises(DatasetNotFoundError, match="MISSING"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).preflight()  # no train/ and test/ folders


def test_id_file_content_is_never_echoed(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-TOKEN:/root:/bin/bash\n")
    with pytest.raises(ConfigError, match="is not a valid id list") as err:
        read_ids(str(secret))
    assert "SECRET" not in str(err.value) and "root:x" not in str(err.value)
    assert "token 1 is not an integer" in str(err.value)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x89PNG\xff\xfe SECRET")
    with pytest.raises(ConfigError, match="cannot be read as UTF-8 text") as err:
        read_ids(str(binary))
    assert "SECRET" not in str(err.value) and "0x89" not in str(err.value)
    bad_json = tmp_path / "ids.json"
    bad_json.write_text('{"ids": "SECRET"}')
    with pytest.raises(ConfigError, match="expected a list of integers") as err:
        read_ids(str(bad_json))
    assert "SECRET" not in str(err.value)
    good = tmp_path / "ids.txt"
    good.write_text("3, 1\n# comment\n2\n")
    assert read_ids(str(good)) == [3, 1, 2]
