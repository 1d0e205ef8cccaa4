"""ImageFolder directories (PNG) and the Tiny-ImageNet layout (JPEG, val via val_annotations.txt)."""
import numpy as np
import pytest
import torch
from PIL import Image

from bench.data.folder import ImageFolder, TinyImageNet, interleave
from bench.errors import ConfigError, DatasetNotFoundError
from data_fakes import write_png


def make_folder(root, classes=("cat", "dog", "eel"), n_train=(3, 2, 3), n_test=(1, 2, 1), size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = {}
    for split, counts in (("train", n_train), ("test", n_test)):
        for cls, n in zip(classes, counts):
            for j in range(n):
                img = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
                write_png(root / split / cls / f"{cls}_{j}.png", img)
                images[(split, cls, j)] = img
    return images


def test_interleave_is_round_robin_over_classes():
    assert interleave([0, 0, 0, 1, 1, 2]) == [0, 3, 5, 1, 4, 2]


def test_imagefolder_reads_pngs_exactly_in_round_robin_order(tmp_path):
    imgs = make_folder(tmp_path)
    data = ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    assert data.class_names == ["cat", "dog", "eel"] and data.num_classes == 3
    assert data.y_train.tolist() == [0, 1, 2, 0, 1, 2, 0, 2]
    expected = [("cat", 0), ("dog", 0), ("eel", 0), ("cat", 1), ("dog", 1), ("eel", 1), ("cat", 2), ("eel", 2)]
    for k, (cls, j) in enumerate(expected):
        assert torch.equal(data.x_train[k], torch.from_numpy(imgs[("train", cls, j)]).float() / 255)
    assert data.y_test.tolist() == [0, 1, 2, 1]


def test_imagefolder_test_split_with_fewer_classes_keeps_training_indices(tmp_path):
    make_folder(tmp_path, n_test=(0, 2, 1))  # no test/cat folder at all
    data = ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    assert data.y_test.tolist() == [1, 2, 1]  # dog = 1, eel = 2 as in training


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="MISSING"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    make_folder(tmp_path)
    write_png(tmp_path / "test" / "fox" / "a.png", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(DatasetNotFoundError, match="fox"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    with pytest.raises(ConfigError, match="download"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path), download=True))()


def test_imagefolder_mixed_sizes_need_size(tmp_path):
    make_folder(tmp_path)
    write_png(tmp_path / "train" / "cat" / "big.png", np.full((3, 12, 10), 200, np.uint8))
    with pytest.raises(ConfigError, match="size = <n>"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path)))()
    data = ImageFolder(ImageFolder.Config(root=str(tmp_path), size=16))()
    assert data.shape == (3, 16, 16)
    big = [k for k in range(len(data.y_train)) if torch.allclose(data.x_train[k], torch.tensor(200 / 255))]
    assert len(big) == 1  # a constant image stays constant under resizing


def make_tiny(root, wnids=("n01", "n02", "n03"), per_class=4, n_val=6, seed=0):
    """The official layout: wnids.txt, words.txt, train/<wnid>/images/<wnid>_<i>.JPEG (+ boxes file), val/..."""
    rng = np.random.default_rng(seed)
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\tthing {w}, other name\n" for w in wnids))
    for w in wnids:
        (base / "train" / w / "images").mkdir(parents=True)
        (base / "train" / w / f"{w}_boxes.txt").write_text("")
        for i in range(per_class):
            arr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(arr).save(base / "train" / w / "images" / f"{w}_{i}.JPEG", quality=95)
    labels = [wnids[i % len(wnids)] for i in range(n_val)]
    lines = []
    for i, w in reversed(list(enumerate(labels))):  # file order differs from numeric order on purpose
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(base / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base, labels


def small(counts):
    return type("TinyImageNet", (TinyImageNet,), {"expected_counts": counts})


def test_tiny_imagenet_layout_labels_and_decoding(tmp_path):
    base, labels = make_tiny(tmp_path)
    data = small((3, 4, 6))(TinyImageNet.Config(root=str(tmp_path)))()
    assert data.x_train.shape == (12, 3, 64, 64) and data.x_test.shape == (6, 3, 64, 64)
    assert data.class_names == ["n01", "n02", "n03"] and data.num_classes == 3
    assert data.y_train.tolist() == [0, 1, 2] * 4
    assert data.y_test.tolist() == [["n01", "n02", "n03"].index(w) for w in labels]  # val_0, val_1, ... order
    ref = np.asarray(Image.open(base / "val" / "images" / "val_4.JPEG").convert("RGB"))  # independent decode
    assert torch.equal(data.x_test[4], torch.from_numpy(ref.transpose(2, 0, 1).copy()).float() / 255)
    assert data.meta["class_words"] == ["thing n01", "thing n02", "thing n03"]


def test_tiny_imagenet_p1_center_crop_56(tmp_path):
    make_tiny(tmp_path)
    cls = small((3, 4, 6))
    full = cls(TinyImageNet.Config(root=str(tmp_path)))()
    cfg = TinyImageNet.Config(root=str(tmp_path), crop=56)
    crop = cls(cfg)()
    assert crop.shape == (3, 56, 56) == TinyImageNet.output_shape(cfg)
    assert torch.equal(crop.x_test, full.x_test[:, :, 4:60, 4:60])  # the centred 56x56 window


def test_tiny_imagenet_counts_are_verified(tmp_path):
    make_tiny(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="expected 200") as err:
        TinyImageNet(TinyImageNet.Config(root=str(tmp_path)))()
    assert "expected 10000" in str(err.value) and "verify = false" in str(err.value)
    assert TinyImageNet(TinyImageNet.Config(root=str(tmp_path), verify=False))().num_classes == 3


def test_tiny_imagenet_missing_pieces_are_named(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        TinyImageNet(TinyImageNet.Config(root=str(tmp_path)))()
    msg = str(err.value)
    assert str(tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt") in msg
    assert "http://cs231n.stanford.edu/tiny-imagenet-200.zip" in msg
    base, _ = make_tiny(tmp_path)
    (base / "val" / "images" / "val_2.JPEG").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        small((3, 4, 6))(TinyImageNet.Config(root=str(tmp_path)))()
    missing = [ln for ln in str(err.value).splitlines() if ln.endswith("MISSING")]
    assert len(missing) == 1 and "val_2.JPEG" in missing[0]


def test_long_lists_of_missing_files_are_capped(tmp_path):
    base, _ = make_tiny(tmp_path, per_class=1, n_val=40)
    for i in range(35):
        (base / "val" / "images" / f"val_{i}.JPEG").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        small((3, 1, 40))(TinyImageNet.Config(root=str(tmp_path)))()
    lines = str(err.value).splitlines()
    assert "35 of 40 missing" in lines[1]
    assert sum(ln.endswith("MISSING") for ln in lines) == 30 and "  ... and 5 more missing" in lines
