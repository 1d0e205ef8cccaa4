"""Write tiny datasets in each real on-disk format (same layout, keys and dtypes as the official files).

Each writer returns what it wrote (uint8 images in NCHW order, labels, class names) so tests
can compare the loader's output with an independent reading of the format's definition.
"""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from bench.data.files import md5_of

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _images(rng: np.random.Generator, n: int, c: int, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, c, h, w), dtype=np.uint8)


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the official batches are protocol-2 pickles


def write_cifar10(root: Path, per_batch: int = 6, n_test: int = 10, seed: int = 0) -> dict:
    """``cifar-10-batches-py``: five ``data_batch_i`` + ``test_batch`` ({'data': (N, 3072) uint8 with R, G, B
    planes of 32x32 row-major, 'labels': list[int], ...}) and ``batches.meta`` ({'label_names': [...]})."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    xs, ys = [], []
    for i in range(1, 6):
        x, y = _images(rng, per_batch, 3, 32, 32), rng.integers(0, 10, per_batch).tolist()
        names = [f"img{j}.png" for j in range(per_batch)]
        _pickle(base / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "labels": y,
                                          "data": x.reshape(per_batch, 3072), "filenames": names})
        xs.append(x)
        ys += y
    xt, yt = _images(rng, n_test, 3, 32, 32), rng.integers(0, 10, n_test).tolist()
    _pickle(base / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": yt, "data": xt.reshape(n_test, 3072),
                                  "filenames": [f"t{j}.png" for j in range(n_test)]})
    _pickle(base / "batches.meta", {"num_cases_per_batch": per_batch, "label_names": CIFAR10_NAMES, "num_vis": 3072})
    return {"x_train": np.concatenate(xs), "y_train": ys, "x_test": xt, "y_test": yt, "classes": CIFAR10_NAMES,
            "dir": base}


def write_cifar100(root: Path, n_train: int = 12, n_test: int = 8, seed: int = 1) -> dict:
    """``cifar-100-python``: ``train``, ``test`` ({'data', 'fine_labels', 'coarse_labels', ...}) and ``meta``."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-100-python"
    fine = [f"fine{k:02d}" for k in range(100)]
    out = {"classes": fine, "dir": base}
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = _images(rng, n, 3, 32, 32), rng.integers(0, 100, n).tolist()
        _pickle(base / split, {"filenames": [f"{split}{j}.png" for j in range(n)], "batch_label": split,
                               "fine_labels": y, "coarse_labels": [k // 5 for k in y], "data": x.reshape(n, 3072)})
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    _pickle(base / "meta", {"fine_label_names": fine, "coarse_label_names": [f"coarse{k}" for k in range(20)]})
    return out


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX (LeCun): magic 0x00 0x00 <type 0x08 = ubyte> <ndim>, big-endian int32 sizes, then the raw bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", s) for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 20, n_test: int = 10, seed: int = 2,
                gz: bool = True, raw: bool = False) -> dict:
    """``<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``."""
    rng = np.random.default_rng(seed)
    base = root / folder / "raw"
    base.mkdir(parents=True, exist_ok=True)
    out = {"dir": base}
    for prefix, split, n in (("train", "train", n_train), ("t10k", "test", n_test)):
        x, y = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                with gzip.open(base / f"{name}.gz", "wb") as f:
                    f.write(idx_bytes(arr))
            if raw:
                (base / name).write_bytes(idx_bytes(arr))
        out[f"x_{split}"], out[f"y_{split}"] = x[:, None], y.astype(np.int64).tolist()
    return out


def write_svhn(root: Path, n_train: int = 12, n_test: int = 9, seed: int = 3) -> dict:
    """``svhn/{train,test}_32x32.mat``: 'X' uint8 (32, 32, 3, N), 'y' (N, 1) with 10 standing for the digit 0."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    base = root / "svhn"
    base.mkdir(parents=True, exist_ok=True)
    out = {"dir": base}
    for split, n in (("train", n_train), ("test", n_test)):
        x = _images(rng, n, 3, 32, 32)
        digits = np.arange(n) % 10  # every digit, 0 included
        rng.shuffle(digits)
        y_file = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(n, 1)
        savemat(base / f"{split}_32x32.mat", {"X": x.transpose(2, 3, 1, 0), "y": y_file})
        out[f"x_{split}"], out[f"y_{split}"] = x, digits.tolist()
    return out


def write_png(path: Path, chw: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(chw.transpose(1, 2, 0)).save(path)


def checksums(root: Path, files: list[Path]) -> dict[str, str]:
    """md5 table (paths relative to ``root``) of the files just written, for a test's checksum override."""
    return {str(p.relative_to(root)).replace("\\", "/"): md5_of(p) for p in files}
