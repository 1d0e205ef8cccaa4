"""``download = true`` goes through torchvision's downloaders with the official URLs and md5s, only when files are missing.

No network: the downloaders are replaced by functions that record the call and write small
files in the real format where the archive would have been extracted.
"""
import pytest

from bench.data.cifar import CIFAR10
from bench.data.folder import TinyImageNet
from bench.data.mnist import MNIST
from bench.data.svhn import SVHN
from bench.errors import DatasetNotFoundError
from data_fakes import write_cifar10, write_mnist, write_svhn


def recorder(calls, write):
    def fake(url, *args, **kwargs):
        calls.append((url, args, kwargs))
        write()
    return fake


def test_cifar10_download_uses_the_official_archive_once(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    calls = []
    monkeypatch.setattr(tvu, "download_and_extract_archive", recorder(calls, lambda: write_cifar10(tmp_path)))
    cfg = CIFAR10.Config(root=str(tmp_path), download=True, verify=False)
    assert CIFAR10(cfg)().x_train.shape[0] == 30
    (url, args, kwargs), = calls
    assert url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" and args == (str(tmp_path),)
    assert kwargs["md5"] == "c58f30108f718f92721af3b95e74349a"
    CIFAR10(cfg)()
    assert len(calls) == 1  # files present: no second download


def test_mnist_download_goes_through_torchvision_mirrors(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tvm

    calls = []

    def fake(url, download_root, filename, md5):
        calls.append((url, download_root, filename, md5))
        if len(calls) == 4:
            write_mnist(tmp_path, raw=True)

    monkeypatch.setattr(tvm, "download_and_extract_archive", fake)
    data = MNIST(MNIST.Config(root=str(tmp_path), download=True, verify=False))()
    assert data.x_train.shape == (20, 1, 28, 28)
    assert [c[2] for c in calls] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert all(c[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/" + c[2] for c in calls)
    assert all(c[1] == str(tmp_path / "MNIST" / "raw") for c in calls)
    assert calls[0][3] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"


def test_svhn_download_fetches_each_missing_file(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    calls = []
    monkeypatch.setattr(tvu, "download_url", recorder(calls, lambda: None))
    write_svhn(tmp_path)
    (tmp_path / "svhn" / "test_32x32.mat").unlink()
    with pytest.raises(DatasetNotFoundError, match="test_32x32.mat  MISSING"):  # the recorder wrote nothing
        SVHN(SVHN.Config(root=str(tmp_path), download=True, verify=False))()
    (url, args, _), = calls
    assert url == "http://ufldl.stanford.edu/housenumbers/test_32x32.mat"
    assert args == (str(tmp_path / "svhn"), "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")


def test_tiny_imagenet_download_extracts_the_official_zip(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    calls = []
    monkeypatch.setattr(tvu, "download_and_extract_archive", recorder(calls, lambda: None))
    with pytest.raises(DatasetNotFoundError, match="wnids.txt  MISSING"):
        TinyImageNet(TinyImageNet.Config(root=str(tmp_path), download=True))()
    (url, args, _), = calls
    assert url == "http://cs231n.stanford.edu/tiny-imagenet-200.zip" and args == (str(tmp_path),)
