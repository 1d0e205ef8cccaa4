"""MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al., 2017) from IDX files, via torchvision.

Files (torchvision's layout; the official archives go in ``raw/``)::

    <root>/MNIST/raw/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                     t10k-images-idx3-ubyte.gz,  t10k-labels-idx1-ubyte.gz
    <root>/FashionMNIST/raw/  (the same four names)

torchvision reads the decompressed files (same names without ``.gz``); when only the
archives are present they are decompressed in place (a local step, no download). The
official md5s (``torchvision.datasets.MNIST.resources``) are published for the ``.gz``
archives, so ``verify = true`` checks each archive's md5 and that the decompressed file
holds exactly its bytes; decompressed files without their archives can only be loaded with
``verify = false``. 60,000 train / 10,000 test grey 28x28 images, 10 classes.
"""
from __future__ import annotations

from typing import ClassVar

from bench.data.files import DatasetChecksumError, gunzip_matches, require_files, verify_md5
from bench.data.real import RawSplits, RealDataset
from bench.errors import DatasetNotFoundError


class _Idx(RealDataset):
    native_shape = (1, 28, 28)
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

    def read(self) -> RawSplits:
        from torchvision.datasets.utils import extract_archive

        tv, root, how = self.tv_class(), self.root, self.how_to_obtain()
        raw = root / tv.__name__ / "raw"
        table = self.checksums or {f"{tv.__name__}/raw/{name}": md5 for name, md5 in tv.resources}
        archives = [root / rel for rel in table]
        if self.config.download and not all(a.exists() for a in archives):
            root.mkdir(parents=True, exist_ok=True)
            tv(str(root), train=True, download=True)  # fetches the .gz archives (md5-checked) and decompresses them
        # Name the archives (what the user downloads); a decompressed copy also counts as present.
        require_files(self.title, root, archives, how, self.config.root,
                      exists=lambda a: a.exists() or a.with_suffix("").exists())
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
                extract_archive(str(archive), str(raw))
            elif self.config.verify and archive.exists() and not gunzip_matches(archive, target):
                raise DatasetChecksumError(
                    f"{self.title}: {target} differs from the decompressed content of {archive} "
                    "(whose md5 is the official one); delete it so it is decompressed again")
        # Same class name (torchvision derives the folder from it); never take the legacy processed/*.pt files,
        # so what is loaded is what was verified.
        loader = type(tv.__name__, (tv,), {"_check_legacy_exist": lambda self: False})
        train, test = loader(str(root), train=True), loader(str(root), train=False)
        return RawSplits(train.data.unsqueeze(1), train.targets.long(), test.data.unsqueeze(1), test.targets.long(),
                         list(tv.classes), {"files": sorted(table), "verified": bool(self.config.verify)})


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
