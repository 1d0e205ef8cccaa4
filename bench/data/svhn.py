"""SVHN, cropped digits (Netzer et al., 2011), from the official .mat files, via torchvision.

Files::

    <root>/svhn/train_32x32.mat, test_32x32.mat

(``X``: uint8 (32, 32, 3, N), ``y``: (N, 1) with label 10 for the digit 0, which torchvision
maps to 0). 73,257 train / 26,032 test RGB 32x32 images, 10 classes; the ``extra`` split is
not used. The md5s checked are torchvision's official ones (``torchvision.datasets.SVHN.split_list``).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from bench.data.files import require_files, verify_md5
from bench.data.real import RawSplits, RealDataset

SUBDIR = "svhn"


class SVHN(RealDataset):
    """SVHN cropped digits: (3, 32, 32), 10 classes, 73,257 / 26,032."""

    title = "SVHN"
    native_shape = (3, 32, 32)
    source_url = "http://ufldl.stanford.edu/housenumbers/"
    checksums: ClassVar[dict[str, str]] = {}

    def read(self) -> RawSplits:
        from torchvision.datasets import SVHN as TV

        root, folder = self.root, self.root / SUBDIR
        table = self.checksums or {f"{SUBDIR}/{TV.split_list[s][1]}": TV.split_list[s][2] for s in ("train", "test")}
        how = ("download " + " and ".join(f"{TV.split_list[s][0]} (md5 {TV.split_list[s][2]})" for s in ("train", "test"))
               + f" into {folder}, or set download = true in the dataset's params to let torchvision fetch them")
        if self.config.download:
            from torchvision.datasets.utils import download_url

            for split in ("train", "test"):
                url, name, md5 = TV.split_list[split]
                if not (folder / name).exists():
                    download_url(url, str(folder), name, md5)  # torchvision's own download, md5-checked
        require_files(self.title, root, [root / rel for rel in table], how, self.config.root)
        if self.config.verify:
            verify_md5(self.title, root, table, how)
        # torchvision always checks its own md5 table; we verified (or were told not to) already.
        loader = type("SVHN", (TV,), {"split_list": {k: [url, name, None] for k, (url, name, _) in TV.split_list.items()}})
        train, test = loader(str(folder), split="train"), loader(str(folder), split="test")
        return RawSplits(torch.from_numpy(train.data), torch.from_numpy(train.labels),
                         torch.from_numpy(test.data), torch.from_numpy(test.labels),
                         [str(i) for i in range(10)], {"files": sorted(table), "verified": bool(self.config.verify)})
