"""MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al., 2017) from IDX files.

Files (torchvision's layout; the official archives go in ``raw/``)::

    <root>/MNIST/raw/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                     t10k-images-idx3-ubyte.gz,  t10k-labels-idx1-ubyte.gz
    <root>/FashionMNIST/raw/  (the same four names)

The decompressed files (same names without ``.gz``) are read by :func:`read_idx`, which checks
each file's header and size and names a bad file; when only the archives are present they are
decompressed in place (a local step, no download). torchvision supplies the file names, the
download and the md5s; its legacy ``processed/*.pt`` files are never read. The
official md5s (``torchvision.datasets.MNIST.resources``) are published for the ``.gz``
archives, so ``verify = true`` checks each archive's md5 and that the decompressed file
holds exactly its bytes; decompressed files without their archives can only be loaded with
``verify = false``. 60,000 train / 10,000 test grey 28x28 images, 10 classes.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Callable, ClassVar

import torch

from bench.data.files import DatasetChecksumError, gunzip_matches, require_files, verify_md5
from bench.data.real import RawSplits, RealDataset
from bench.errors import DatasetNotFoundError


def _gunzip(title: str, archive: Path, target: Path) -> None:
    """Decompress ``archive`` next to itself (atomically), naming the archive when it is not a valid gzip file."""
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with gzip.open(archive, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetChecksumError(f"{title}: {archive} is not a valid gzip archive ({type(exc).__name__}); "
                                   "replace it with the official file") from None
    os.replace(tmp, target)


class _Idx(RealDataset):
    native_shape = (1, 28, 28)
    native_sizes = (60000, 10000)
    tv_name: ClassVar[str] = ""
    checksums: ClassVar[dict[str, str]] = {}

    @classmethod
    def tv_class(cls):
        import torchvision.datasets as tvd

        return getattr(tvd, cls.tv_name)

    def how_to_obtain(self) -> str:
        tv = self.tv_class()
        names = ", ".join(name for name, _ in tv.resources)
        return (f"download {names} from {tv.mirrors[0]} into {self.root / tv.__name__ / 'raw'}, "
                "or set download = true in the dataset's params to let torchvision fetch them")

    def table(self) -> dict[str, str]:
        tv = self.tv_class()
        return self.checksums or {f"{tv.__name__}/raw/{name}": md5 for name, md5 in tv.resources}

    def expected_files(self) -> tuple[list[Path], str, Callable[[Path], bool]]:
        # Name the archives (what the user downloads); a decompressed copy also counts as present.
        return ([self.root / rel for rel in self.table()], self.how_to_obtain(),
                lambda a: a.exists() or a.with_suffix("").exists())

    def read(self) -> RawSplits:
        tv, root, how = self.tv_class(), self.root, self.how_to_obtain()
        raw = root / tv.__name__ / "raw"
        table = self.table()
        archives, _, present = self.expected_files()
        if self.config.download and not all(a.exists() for a in archives):
            root.mkdir(parents=True, exist_ok=True)
            legacy_off = type(tv.__name__, (tv,), {"_check_legacy_exist": lambda self: False})
            legacy_off(str(root), train=True, download=True)  # fetches the .gz archives (md5-checked)
        require_files(self.title, root, archives, how, self.config.root, exists=present)
        if self.config.verify:
            orphans = [a.with_suffix("") for a in archives if not a.exists()]
            if orphans:
                raise DatasetNotFoundError(
                    f"{self.title}: cannot verify {', '.join(str(o) for o in orphans)}: the official md5s are "
                    f"published for the .gz archives, which are missing. {how}; or set verify = false to "
                    "load the decompressed files unverified.")
            verify_md5(self.title, root, table, how)
        for archive in archives:
            target = archive.with_suffix("")
            if not target.exists():
                _gunzip(self.title, archive, target)
            elif self.config.verify and archive.exists() and not gunzip_matches(archive, target):
                raise DatasetChecksumError(
                    f"{self.title}: {target} differs from the decompressed content of {archive} "
                    "(whose md5 is the official one); delete it so it is decompressed again")
        splits = [_read_split(self.title, raw, prefix) for prefix in ("train", "t10k")]
        (xt, yt), (xs, ys) = splits
        return RawSplits(xt.unsqueeze(1), yt.long(), xs.unsqueeze(1), ys.long(),
                         list(tv.classes), {"files": sorted(table), "verified": bool(self.config.verify)})


def read_idx(path: Path, title: str, ndim: int) -> torch.Tensor:
    """A uint8 IDX file (LeCun): bytes 0 0 0x08 <ndim>, ``ndim`` big-endian int32 sizes, then the data.

    Anything else (wrong magic, truncated or padded data) is an error naming the file; the legacy
    ``processed/*.pt`` files torchvision also reads are never touched.
    """
    data = path.read_bytes()
    header = 4 + 4 * ndim
    problem = None
    if len(data) < header or data[:4] != bytes([0, 0, 0x08, ndim]):
        problem = f"its header is not that of a {ndim}-dimensional uint8 IDX file (magic 0x000008{ndim:02x})"
    else:
        sizes = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        if len(data) - header != math.prod(sizes):
            problem = (f"its header announces {' x '.join(map(str, sizes))} bytes of data, "
                       f"the file holds {len(data) - header}")
        elif ndim == 3 and sizes[1:] != [28, 28]:
            problem = f"it holds {sizes[1]}x{sizes[2]} images, expected 28x28"
    if problem:
        raise DatasetChecksumError(f"{title}: {path} is not a valid IDX file: {problem}; replace it with the file "
                                   "from the official archive (delete it to have the .gz archive decompressed again)")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header).view(*sizes)


def _read_split(title: str, raw: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(raw / f"{prefix}-images-idx3-ubyte", title, 3)
    labels_path = raw / f"{prefix}-labels-idx1-ubyte"
    labels = read_idx(labels_path, title, 1)
    if labels.shape[0] != images.shape[0]:
        raise DatasetChecksumError(f"{title}: {labels_path} holds {labels.shape[0]} labels for {images.shape[0]} "
                                   "images; replace both files with the official ones")
    if labels.numel() and int(labels.max()) > 9:
        raise DatasetChecksumError(f"{title}: {labels_path} holds label {int(labels.max())}, outside 0..9; "
                                   "replace it with the file from the official archive")
    return images, labels


class MNIST(_Idx):
    """MNIST: (1, 28, 28), 10 classes, 60,000 / 10,000."""

    title = "MNIST"
    tv_name = "MNIST"
    source_url = "http://yann.lecun.com/exdb/mnist/"


class FashionMNIST(_Idx):
    """Fashion-MNIST: (1, 28, 28), 10 classes, 60,000 / 10,000."""

    title = "Fashion-MNIST"
    tv_name = "FashionMNIST"
    source_url = "https://github.com/zalandoresearch/fashion-mnist"
