"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) from the official python pickles, read safely.

Files (the official ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` extracted in the
data root)::

    <root>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <root>/cifar-100-python/train, test, meta

50,000 train / 10,000 test RGB 32x32 images; 10 classes (CIFAR-10) or the 100 fine classes
(CIFAR-100). The md5s checked are torchvision's official ones
(``torchvision.datasets.CIFAR10.train_list`` etc.).

The batches are pickles, and ``pickle.load`` (which torchvision's CIFAR classes call) runs any
code a planted file names. They are read here with :func:`bench.data.safe_pickle.load_data_pickle`,
which admits only numpy arrays and plain values, whether or not ``verify`` is set; torchvision
still supplies the official file names, md5s and download.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from bench.data.files import DatasetChecksumError, require_files, verify_md5
from bench.data.real import RawSplits, RealDataset
from bench.data.safe_pickle import load_data_pickle


def _official_table(tv_cls) -> dict[str, str]:
    rows = list(tv_cls.train_list) + list(tv_cls.test_list) + [[tv_cls.meta["filename"], tv_cls.meta["md5"]]]
    return {f"{tv_cls.base_folder}/{name}": md5 for name, md5 in rows}


def _read_batches(title: str, folder: Path, names: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate batch files: 'data' (N, 3072) uint8 holding R, G, B 32x32 planes -> (N, 3, 32, 32)."""
    xs, ys = [], []
    for name in names:
        path = folder / name
        entry = load_data_pickle(path, title)
        data = entry.get("data") if isinstance(entry, dict) else None
        labels = entry.get(label_key) if isinstance(entry, dict) else None
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
                and isinstance(labels, list) and len(labels) == data.shape[0]
                and all(isinstance(v, int) and not isinstance(v, bool) for v in labels)):
            raise DatasetChecksumError(
                f"{title}: {path} is not a valid batch file (expected a dict with 'data', a (N, 3072) uint8 array, "
                f"and {label_key!r}, N integers); replace it with the file from the official archive")
        xs.append(torch.from_numpy(np.ascontiguousarray(data.reshape(-1, 3, 32, 32))))
        ys.append(torch.tensor(labels, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)


def _read_names(title: str, path: Path, key: str) -> list[str]:
    meta = load_data_pickle(path, title)
    names = meta.get(key) if isinstance(meta, dict) else None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise DatasetChecksumError(f"{title}: {path} is not a valid meta file (expected {key!r}, a list of class "
                                   "names); replace it with the file from the official archive")
    return names


class _Cifar(RealDataset):
    native_shape = (3, 32, 32)
    native_sizes = (50000, 10000)
    tv_name: ClassVar[str] = ""
    label_key: ClassVar[str] = "labels"
    checksums: ClassVar[dict[str, str]] = {}

    @classmethod
    def tv_class(cls):
        import torchvision.datasets as tvd

        return getattr(tvd, cls.tv_name)

    def how_to_obtain(self) -> str:
        tv = self.tv_class()
        return (f"download {tv.url} (md5 {tv.tgz_md5}) and extract it inside {self.root}, "
                "or set download = true in the dataset's params to let torchvision fetch it")

    def read(self) -> RawSplits:
        tv, root, how = self.tv_class(), self.root, self.how_to_obtain()
        table = self.checksums or _official_table(tv)
        if self.config.download and not all((root / rel).exists() for rel in table):
            from torchvision.datasets.utils import download_and_extract_archive

            # torchvision's official URL and archive md5, fetched by torchvision's own helper
            download_and_extract_archive(tv.url, str(root), filename=tv.filename, md5=tv.tgz_md5)
        require_files(self.title, root, [root / rel for rel in table], how, self.config.root)
        if self.config.verify:
            verify_md5(self.title, root, table, how)
        folder = root / tv.base_folder
        xt, yt = _read_batches(self.title, folder, [n for n, _ in tv.train_list], self.label_key)
        xs, ys = _read_batches(self.title, folder, [n for n, _ in tv.test_list], self.label_key)
        names = _read_names(self.title, folder / tv.meta["filename"], tv.meta["key"])
        for split, y in (("training", yt), ("test", ys)):
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(names)):
                raise DatasetChecksumError(f"{self.title}: a {split} label is outside 0..{len(names) - 1} "
                                           f"in {folder}; replace the files with the official archive's")
        return RawSplits(xt, yt, xs, ys, names, {"files": sorted(table), "verified": bool(self.config.verify)})


class CIFAR10(_Cifar):
    """CIFAR-10: (3, 32, 32), 10 classes, 50,000 / 10,000."""

    title = "CIFAR-10"
    tv_name = "CIFAR10"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar.html"


class CIFAR100(_Cifar):
    """CIFAR-100 (fine labels): (3, 32, 32), 100 classes, 50,000 / 10,000."""

    title = "CIFAR-100"
    tv_name = "CIFAR100"
    label_key = "fine_labels"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar.html"
