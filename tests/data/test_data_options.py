"""Fixed evaluation subsets, resizing, cropping, channels, and the registered specs of the real datasets."""
import json

import pytest
import torch
from pydantic import ValidationError

from bench.data.cifar import CIFAR10
from bench.data.real import RealConfig
from bench.errors import ConfigError
from bench.registry import get_registry
from data_fakes import write_cifar10

REAL = {"cifar10": (3, 32, 32, 10), "cifar100": (3, 32, 32, 100), "mnist": (1, 28, 28, 10),
        "fashion-mnist": (1, 28, 28, 10), "svhn": (3, 32, 32, 10), "tiny-imagenet": (3, 64, 64, 200)}


@pytest.fixture
def c10(tmp_path):
    w = write_cifar10(tmp_path)
    w["root"] = str(tmp_path)
    return w


def load(c10, **params):
    return CIFAR10(CIFAR10.Config(root=c10["root"], verify=False, **params))()


def ref(c10, split, idx):
    return torch.from_numpy(c10[f"x_{split}"][idx]).float() / 255


def test_first_n_subsets(c10):
    data = load(c10, n_train=7, n_test=3)
    assert torch.equal(data.x_train, ref(c10, "train", slice(0, 7))) and data.y_test.tolist() == c10["y_test"][:3]


def test_test_ids_select_exactly_those_examples_in_order(c10):
    data = load(c10, test_ids=[9, 2, 5, 0])
    assert torch.equal(data.x_test, ref(c10, "test", [9, 2, 5, 0]))
    assert data.y_test.tolist() == [c10["y_test"][i] for i in (9, 2, 5, 0)]
    assert load(c10, test_ids=[9, 2, 5, 0], n_test=2).y_test.tolist() == [c10["y_test"][i] for i in (9, 2)]
    assert data.x_train.shape[0] == 30  # training split untouched


@pytest.mark.parametrize("name,text", [("ids.json", "[4, 1, 7]"), ("ids.json", '{"ids": [4, 1, 7]}'),
                                       ("ids.txt", "# published subset\n4\n1, 7\n")])
def test_test_ids_from_a_published_file(c10, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert load(c10, test_ids=str(path)).y_test.tolist() == [c10["y_test"][i] for i in (4, 1, 7)]


def test_bad_test_ids_are_errors(c10, tmp_path):
    with pytest.raises(ConfigError, match="out of range.*10 examples"):
        load(c10, test_ids=[3, 10])
    with pytest.raises(ValidationError, match="unique"):
        RealConfig(test_ids=[1, 1])
    with pytest.raises(ValidationError, match=">= 0"):
        RealConfig(test_ids=[-1])
    with pytest.raises(ConfigError, match="does not exist"):
        load(c10, test_ids=str(tmp_path / "nope.json"))
    (tmp_path / "bad.txt").write_text("1 2 x")
    with pytest.raises(ConfigError, match="not a valid id list"):
        load(c10, test_ids=str(tmp_path / "bad.txt"))


def test_size_crop_and_channels(c10):
    base = load(c10)
    up = load(c10, size=64)
    assert up.shape == (3, 64, 64) and up.x_train.min() >= 0 and up.x_train.max() <= 1
    assert CIFAR10.output_shape(CIFAR10.Config(size=64, crop=56)) == (3, 56, 56)
    crop = load(c10, crop=24)
    assert torch.equal(crop.x_test, base.x_test[:, :, 4:28, 4:28])
    grey = load(c10, channels=1)
    luma = 0.2989 * base.x_test[:, 0] + 0.587 * base.x_test[:, 1] + 0.114 * base.x_test[:, 2]  # ITU-R 601
    assert grey.shape == (1, 32, 32) and (grey.x_test[:, 0] - luma).abs().max() <= 1 / 255 + 1e-6
    with pytest.raises(ConfigError, match="crop = 40 is larger"):
        load(c10, crop=40)


def test_resize_of_a_constant_image_is_constant(tmp_path):
    import numpy as np

    from data_fakes import _pickle

    w = write_cifar10(tmp_path)
    batch = {"labels": [1], "data": np.full((1, 3072), 77, np.uint8)}
    _pickle(w["dir"] / "test_batch", batch)
    data = CIFAR10(CIFAR10.Config(root=str(tmp_path), verify=False, size=48))()
    assert data.x_test.shape == (1, 3, 48, 48) and torch.all(data.x_test == 77 / 255)


def test_registered_real_datasets():
    reg = get_registry(fresh=True)
    for name, (c, h, w, k) in REAL.items():
        entry = reg.get("dataset", f"core/{name}")
        assert entry.spec.embedded is False and tuple(entry.spec.shape) == (c, h, w) and entry.spec.num_classes == k
        impl = entry.load()
        assert impl.output_shape(impl.Config()) == (c, h, w)
        cfg = impl.Config()
        assert cfg.download is False and cfg.verify is True and cfg.root is None  # no download unless asked
    folder = reg.get("dataset", "core/imagefolder")
    assert folder.spec.embedded is False
    with pytest.raises(ValidationError):
        folder.load().Config()  # an ImageFolder root must be given


def test_embedded_specs_match_their_data():
    reg = get_registry(fresh=True)
    for name, n_train, n_test in (("gratings32-shifted", 2000, 500), ("digits32", 1297, 500)):
        entry = reg.get("dataset", f"core/{name}")
        data = entry.load()()()
        assert entry.spec.embedded and data.shape == tuple(entry.spec.shape) and data.num_classes == entry.spec.num_classes
        assert (len(data.y_train), len(data.y_test)) == (n_train, n_test)


def test_json_id_file_with_non_integers_is_rejected(c10, tmp_path):
    (tmp_path / "f.json").write_text(json.dumps([1, 2.5]))
    with pytest.raises(ConfigError, match="list of integers"):
        load(c10, test_ids=str(tmp_path / "f.json"))
