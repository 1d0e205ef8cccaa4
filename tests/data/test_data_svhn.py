"""SVHN from .mat files with the official keys: 'X' (32, 32, 3, N) uint8 and 'y' with 10 for the digit 0."""
import numpy as np
import pytest
import scipy.io
import torch

from bench.data.files import DatasetChecksumError
from bench.data.svhn import SVHN
from bench.errors import DatasetNotFoundError
from data_fakes import checksums, write_svhn


def verified(root):
    files = [root / "svhn" / "train_32x32.mat", root / "svhn" / "test_32x32.mat"]
    return type("SVHN", (SVHN,), {"checksums": checksums(root, files)})


def test_svhn_loads_images_and_maps_label_10_to_0(tmp_path):
    w = write_svhn(tmp_path)
    data = verified(tmp_path)(SVHN.Config(root=str(tmp_path)))()
    assert data.x_train.shape == (12, 3, 32, 32) and data.x_test.shape == (9, 3, 32, 32)
    mat = scipy.io.loadmat(tmp_path / "svhn" / "test_32x32.mat")
    # Independent reading: X[r, c, ch, i] is row r, column c, channel ch of image i.
    for (i, ch, r, c) in [(0, 0, 0, 0), (4, 2, 31, 3), (8, 1, 7, 30)]:
        assert data.x_test[i, ch, r, c].item() == pytest.approx(mat["X"][r, c, ch, i] / 255.0)
    assert torch.equal(data.x_train, torch.from_numpy(w["x_train"]).float() / 255)
    file_labels = mat["y"].ravel().tolist()
    assert 10 in file_labels and 0 not in file_labels
    assert data.y_test.tolist() == [0 if v == 10 else v for v in file_labels] == w["y_test"]
    assert data.class_names == [str(i) for i in range(10)]


def test_missing_svhn_names_both_files_and_the_official_urls(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        SVHN(SVHN.Config(root=str(tmp_path)))()
    msg = str(err.value)
    assert str(tmp_path / "svhn" / "train_32x32.mat") in msg and str(tmp_path / "svhn" / "test_32x32.mat") in msg
    assert "http://ufldl.stanford.edu/housenumbers/train_32x32.mat" in msg


def test_svhn_official_md5s_reject_fake_files(tmp_path):
    write_svhn(tmp_path)
    with pytest.raises(DatasetChecksumError, match="e26dedcc434d2e4c54c9b2d4a06d8373"):
        SVHN(SVHN.Config(root=str(tmp_path)))()


def test_svhn_subsets_and_fingerprint(tmp_path):
    w = write_svhn(tmp_path)
    cfg = SVHN.Config(root=str(tmp_path), verify=False, n_train=5, test_ids=[8, 0, 3])
    data = SVHN(cfg)()
    assert data.y_train.tolist() == w["y_train"][:5]
    assert data.y_test.tolist() == [w["y_test"][i] for i in (8, 0, 3)]
    assert torch.equal(data.x_test[1], torch.from_numpy(w["x_test"][0]).float() / 255)
    assert SVHN(cfg)().fingerprint == data.fingerprint
    x = w["x_test"].copy()
    x[8, 0, 0, 0] ^= 1
    y = np.array([10 if v == 0 else v for v in w["y_test"]], dtype=np.uint8).reshape(-1, 1)
    scipy.io.savemat(tmp_path / "svhn" / "test_32x32.mat", {"X": x.transpose(2, 3, 1, 0), "y": y})
    assert SVHN(cfg)().fingerprint != data.fingerprint
