"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) from the official python pickles, via torchvision.

Files (the official ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` extracted in the
data root)::

    <root>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <root>/cifar-100-python/train, test, meta

50,000 train / 10,000 test RGB 32x32 images; 10 classes (CIFAR-10) or the 100 fine classes
(CIFAR-100). The md5s checked are torchvision's official ones
(``torchvision.datasets.CIFAR10.train_list`` etc.).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from bench.data.files import require_files, verify_md5
from bench.data.real import RawSplits, RealDataset


def _official_table(tv_cls) -> dict[str, str]:
    rows = list(tv_cls.train_list) + list(tv_cls.test_list) + [[tv_cls.meta["filename"], tv_cls.meta["md5"]]]
    return {f"{tv_cls.base_folder}/{name}": md5 for name, md5 in rows}


def _unchecked(tv_cls):
    """torchvision's class with md5s removed: it then only checks presence (we verified already)."""
    return type(tv_cls.__name__, (tv_cls,), {
        "train_list": [[name, None] for name, _ in tv_cls.train_list],
        "test_list": [[name, None] for name, _ in tv_cls.test_list],
        "meta": {**tv_cls.meta, "md5": None},
    })


class _Cifar(RealDataset):
    native_shape = (3, 32, 32)
    tv_name: ClassVar[str] = ""
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
        loader = _unchecked(tv)
        train, test = loader(str(root), train=True), loader(str(root), train=False)

        def arrays(ds) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # NHWC -> NCHW
            return x, torch.tensor(ds.targets, dtype=torch.int64)

        (xt, yt), (xs, ys) = arrays(train), arrays(test)
        return RawSplits(xt, yt, xs, ys, list(train.classes),
                         {"files": sorted(table), "verified": bool(self.config.verify)})


class CIFAR10(_Cifar):
    """CIFAR-10: (3, 32, 32), 10 classes, 50,000 / 10,000."""

    title = "CIFAR-10"
    tv_name = "CIFAR10"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar.html"


class CIFAR100(_Cifar):
    """CIFAR-100 (fine labels): (3, 32, 32), 100 classes, 50,000 / 10,000."""

    title = "CIFAR-100"
    tv_name = "CIFAR100"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar.html"
