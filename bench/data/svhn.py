"""SVHN, cropped digits (Netzer et al., 2011), from the official .mat files (scipy's loadmat).

Files::

    <root>/svhn/train_32x32.mat, test_32x32.mat

(``X``: uint8 (32, 32, 3, N), ``y``: (N, 1) with label 10 for the digit 0, which torchvision
maps to 0; so does :func:`read_mat`). 73,257 train / 26,032 test RGB 32x32 images, 10 classes; the ``extra`` split is
not used. The md5s checked are torchvision's official ones (``torchvision.datasets.SVHN.split_list``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import torch

from bench.data.files import DatasetChecksumError, require_files, verify_md5
from bench.data.real import RawSplits, RealDataset

SUBDIR = "svhn"


class SVHN(RealDataset):
    """SVHN cropped digits: (3, 32, 32), 10 classes, 73,257 / 26,032."""

    title = "SVHN"
    native_shape = (3, 32, 32)
    native_sizes = (73257, 26032)
    source_url = "http://ufldl.stanford.edu/housenumbers/"
    checksums: ClassVar[dict[str, str]] = {}

    def table(self) -> dict[str, str]:
        from torchvision.datasets import SVHN as TV

        return self.checksums or {f"{SUBDIR}/{TV.split_list[s][1]}": TV.split_list[s][2] for s in ("train", "test")}

    def expected_files(self) -> tuple[list[Path], str, Callable[[Path], bool]]:
        from torchvision.datasets import SVHN as TV

        how = ("download " + " and ".join(f"{TV.split_list[s][0]} (md5 {TV.split_list[s][2]})" for s in ("train", "test"))
               + f" into {self.root / SUBDIR}, or set download = true in the dataset's params to let torchvision "
               "fetch them")
        return [self.root / rel for rel in self.table()], how, Path.exists

    def read(self) -> RawSplits:
        from torchvision.datasets import SVHN as TV

        root, folder = self.root, self.root / SUBDIR
        table = self.table()
        paths, how, _ = self.expected_files()
        if self.config.download:
            from torchvision.datasets.utils import download_url

            for split in ("train", "test"):
                url, name, md5 = TV.split_list[split]
                if not (folder / name).exists():
                    download_url(url, str(folder), name, md5)  # torchvision's own download, md5-checked
        require_files(self.title, root, paths, how, self.config.root)
        if self.config.verify:
            verify_md5(self.title, root, table, how)
        (xt, yt), (xs, ys) = (read_mat(folder / TV.split_list[s][1], self.title) for s in ("train", "test"))
        return RawSplits(xt, yt, xs, ys, [str(i) for i in range(10)],
                         {"files": sorted(table), "verified": bool(self.config.verify)})


def read_mat(path: Path, title: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32) and labels 0..9 from an SVHN .mat file (label 10 is the digit 0).

    ``scipy.io.loadmat`` decodes MATLAB 5 arrays and never runs code; a file it cannot read, or
    whose ``X``/``y`` do not have the official shapes and values, is an error naming the file.
    """
    from scipy.io import loadmat

    def bad(why: str) -> DatasetChecksumError:
        return DatasetChecksumError(f"{title}: {path} is not a valid SVHN file: {why}; replace it with the "
                                    "official file")

    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except Exception as exc:  # scipy raises ValueError, TypeError, NotImplementedError (v7.3/HDF5), OSError...
        raise bad(f"scipy cannot read it ({type(exc).__name__})") from None
    x, y = mat.get("X"), mat.get("y")
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 4 and x.shape[:3] == (32, 32, 3)):
        raise bad("'X' must be a uint8 array of shape (32, 32, 3, N)")
    if not (isinstance(y, np.ndarray) and y.size == x.shape[3] and np.issubdtype(y.dtype, np.number)):
        raise bad(f"'y' must hold {x.shape[3]} labels, one per image")
    labels = y.reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise bad("labels must lie in 1..10")
    labels[labels == 10] = 0
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1))), torch.from_numpy(labels)
