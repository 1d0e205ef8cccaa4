"""MNIST / Fashion-MNIST from IDX files (gzip archives and/or decompressed) in torchvision's raw/ layout."""
import gzip

import pytest
import torch

from bench.data.files import DatasetChecksumError
from bench.data.mnist import MNIST, FashionMNIST
from bench.errors import DatasetNotFoundError
from data_fakes import checksums, idx_bytes, write_mnist

ARCHIVES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz"]


def verified(cls, root, folder):
    return type(cls.__name__, (cls,), {"checksums": checksums(root, [root / folder / "raw" / a for a in ARCHIVES])})


@pytest.mark.parametrize("cls,folder,name3", [(MNIST, "MNIST", "3 - three"), (FashionMNIST, "FashionMNIST", "Dress")])
def test_gz_archives_are_verified_decompressed_and_loaded(tmp_path, cls, folder, name3):
    w = write_mnist(tmp_path, folder)
    data = verified(cls, tmp_path, folder)(cls.Config(root=str(tmp_path)))()
    assert data.x_train.shape == (20, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert torch.equal(data.x_train, torch.from_numpy(w["x_train"]).float() / 255)
    assert data.y_train.tolist() == w["y_train"] and data.y_test.tolist() == w["y_test"]
    assert data.num_classes == 10 and len(data.class_names) == 10 and data.class_names[3] == name3
    for a in ARCHIVES:  # decompressed next to the archive, byte for byte
        raw = tmp_path / folder / "raw" / a[:-3]
        assert raw.read_bytes() == gzip.decompress((tmp_path / folder / "raw" / a).read_bytes())


def test_idx_header_is_read_as_specified(tmp_path):
    """A hand-made IDX file: 2 images of 28x28 where pixel (r, c) = r + c, labels 7 and 2."""
    base = tmp_path / "MNIST" / "raw"
    base.mkdir(parents=True)
    img = torch.arange(28).view(28, 1) + torch.arange(28).view(1, 28)
    imgs = torch.stack([img, 255 - img]).to(torch.uint8).numpy()
    for prefix in ("train", "t10k"):
        (base / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(imgs))
        (base / f"{prefix}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 2]))
    data = MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    assert data.y_test.tolist() == [7, 2]
    assert data.x_test[0, 0, 3, 5].item() == pytest.approx(8 / 255) and data.x_test[1, 0, 0, 0].item() == 1.0


def test_missing_files_name_the_archives_where_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        FashionMNIST(FashionMNIST.Config(root=str(tmp_path)))()
    msg = str(err.value)
    for a in ARCHIVES:
        assert str(tmp_path / "FashionMNIST" / "raw" / a) in msg
    assert "fashion-mnist" in msg and "download = true" in msg


def test_incomplete_raw_folder_lists_only_the_missing_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    missing = [ln for ln in str(err.value).splitlines() if ln.endswith("MISSING")]
    assert len(missing) == 1 and "t10k-labels-idx1-ubyte.gz" in missing[0]


def test_official_md5s_reject_fake_archives(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(DatasetChecksumError) as err:
        MNIST(MNIST.Config(root=str(tmp_path)))()
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(err.value)  # torchvision's md5 of train-images-idx3-ubyte.gz


def test_decompressed_files_alone_need_verify_false(tmp_path):
    w = write_mnist(tmp_path, gz=False, raw=True)
    with pytest.raises(DatasetNotFoundError, match="cannot verify"):
        MNIST(MNIST.Config(root=str(tmp_path)))()
    data = MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    assert data.y_train.tolist() == w["y_train"]


def test_a_decompressed_file_that_differs_from_its_verified_archive_is_reported(tmp_path):
    write_mnist(tmp_path, gz=True, raw=True)
    raw = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    data = bytearray(raw.read_bytes())
    data[-1] ^= 1  # one label changed
    raw.write_bytes(bytes(data))
    with pytest.raises(DatasetChecksumError, match="train-labels-idx1-ubyte"):
        verified(MNIST, tmp_path, "MNIST")(MNIST.Config(root=str(tmp_path)))()


def test_legacy_processed_files_are_ignored(tmp_path):
    """torchvision would prefer MNIST/processed/{training,test}.pt; we always load the verified raw files."""
    w = write_mnist(tmp_path)
    proc = tmp_path / "MNIST" / "processed"
    proc.mkdir()
    fake = (torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))
    torch.save(fake, proc / "training.pt")
    torch.save(fake, proc / "test.pt")
    data = MNIST(MNIST.Config(root=str(tmp_path), verify=False))()
    assert data.y_train.tolist() == w["y_train"]


def test_p2_target_form_three_channels_at_32(tmp_path):
    w = write_mnist(tmp_path)
    cfg = MNIST.Config(root=str(tmp_path), verify=False, size=32, channels=3)
    data = MNIST(cfg)()
    assert data.shape == (3, 32, 32) == MNIST.output_shape(cfg)
    assert torch.equal(data.x_train[:, 0], data.x_train[:, 1]) and torch.equal(data.x_train[:, 0], data.x_train[:, 2])
    assert data.y_train.tolist() == w["y_train"]
