"""Image directories through ``torchvision.datasets.ImageFolder``: any ImageFolder root, and Tiny-ImageNet.

``core/imagefolder`` reads ``<root>/<train_dir>/<class>/<image>`` and ``<root>/<test_dir>/<class>/<image>``
(any format PIL reads; images are converted to RGB). Classes are the sorted folder names
of the training directory; a test class missing from training is an error. All images must
share one size unless ``size`` is given (each image is then resized to size x size).

Order: ImageFolder lists files class by class, so "the first n" would be a single class.
The examples are therefore interleaved round-robin over classes (class 0's first image,
class 1's first image, ..., class 0's second image, ...), a fixed order in which the first
n examples are class-balanced.

Tiny-ImageNet (Le & Yang, 2015; the CS231n subset of ImageNet): the official
``tiny-imagenet-200.zip`` extracted in the data root::

    <root>/tiny-imagenet-200/wnids.txt                       200 WordNet ids
    <root>/tiny-imagenet-200/train/<wnid>/images/*.JPEG      500 per class
    <root>/tiny-imagenet-200/val/images/*.JPEG               10,000 images
    <root>/tiny-imagenet-200/val/val_annotations.txt         file<TAB>wnid<TAB>box

The labelled ``val`` split is the test split (ordered by the number in ``val_<i>.JPEG``);
the unlabelled ``test`` folder is not used. No official per-file checksums exist, so
``verify = true`` checks the official counts (200 classes x 500 + 10,000).
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, ClassVar, Optional

import torch
from pydantic import Field

from bench.data.files import require_files
from bench.data.real import RawSplits, RealConfig, RealDataset
from bench.errors import ConfigError, DatasetChecksumError, DatasetNotFoundError

TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


# The formats of ImageFolder's file extensions (PIL's JPEG decoder also reads multi-picture JPEGs).
# PIL picks a decoder by content, not name: without this list a file named .png holding EPS would
# be rendered by Ghostscript, an external program.
PIL_FORMATS = ("JPEG", "PNG", "PPM", "BMP", "TIFF", "WEBP")


def _load_rgb(path: str) -> torch.Tensor:
    """uint8 (3, H, W) through PIL, converted to RGB (torchvision.io decoding is deprecated since 0.29).

    Only :data:`PIL_FORMATS` are decoded; a file that is not a readable image of one of them is a
    :class:`DatasetChecksumError` naming it.
    """
    from PIL import Image
    from torchvision.transforms.v2.functional import pil_to_tensor

    try:
        with open(path, "rb") as f, Image.open(f, formats=PIL_FORMATS) as img:
            rgb = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise DatasetChecksumError(
            f"{path} is not a readable image ({type(exc).__name__}; formats read: {', '.join(PIL_FORMATS)}); "
            "replace or delete it") from None
    return pil_to_tensor(rgb)


def _read_text(path: Path, title: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetChecksumError(f"{title}: {path} is not a readable text file ({type(exc).__name__}); "
                                   "replace it with the file from the official archive") from None


def _load_sized(path: str, size: Optional[int]) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as F

    img = _load_rgb(path)
    if size is not None and tuple(img.shape[-2:]) != (size, size):
        img = F.resize(img, [size, size], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
    return img


def decode(paths: list[str], size: Optional[int]) -> torch.Tensor:
    """Decode images into a uint8 (N, 3, H, W) tensor, resizing each to ``size`` when given.

    PIL releases the GIL while decoding, so a thread pool spreads the work over the cores;
    ``map`` keeps the order, so the result does not depend on the number of threads.
    """
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        images = list(pool.map(lambda p: _load_sized(p, size), paths, chunksize=64))
    for path, img in zip(paths, images):
        if img.shape != images[0].shape:
            raise ConfigError(f"images differ in size: {paths[0]} is {tuple(images[0].shape[1:])}, {path} is "
                              f"{tuple(img.shape[1:])}; set size = <n> in the dataset's params to resize them all to n x n")
    if not images:
        return torch.zeros(0, 3, size or 1, size or 1, dtype=torch.uint8)
    return torch.stack(images)


def interleave(labels: list[int]) -> list[int]:
    """Indices ordering examples round-robin over classes (stable within a class)."""
    seen: dict[int, int] = {}
    rank = []
    for y in labels:
        rank.append(seen.get(y, 0))
        seen[y] = rank[-1] + 1
    return sorted(range(len(labels)), key=lambda i: (rank[i], labels[i]))


def _image_folder(directory: Path, title: str):
    from torchvision.datasets import ImageFolder as TV

    try:
        return TV(str(directory), loader=_load_rgb)
    except (FileNotFoundError, RuntimeError) as exc:
        raise DatasetNotFoundError(f"{title}: {directory} is not an ImageFolder directory "
                                   f"(<class>/<image> files): {exc}") from None


def _ordered(samples: list[tuple[str, int]], size: Optional[int]) -> tuple[torch.Tensor, torch.Tensor]:
    order = interleave([y for _, y in samples])
    paths = [samples[i][0] for i in order]
    labels = torch.tensor([samples[i][1] for i in order], dtype=torch.int64)
    return decode(paths, size), labels


class ImageFolderConfig(RealConfig):
    root: str = Field(description="directory holding <train_dir>/ and <test_dir>/ in ImageFolder layout")
    train_dir: str = "train"
    test_dir: str = "test"


class ImageFolder(RealDataset):
    """Any ImageFolder directory: (3, H, W) RGB, classes = training folder names."""

    Config = ImageFolderConfig
    title = "ImageFolder"

    def expected_files(self) -> tuple[list[Path], str, Callable[[Path], bool]]:
        train_dir, test_dir = self.root / self.config.train_dir, self.root / self.config.test_dir
        how = f"put images in {train_dir}/<class>/ and {test_dir}/<class>/ ({', '.join(PIL_FORMATS)})"
        return [train_dir, test_dir], how, Path.is_dir

    def preflight(self) -> None:
        if self.config.download:
            raise ConfigError("core/imagefolder reads local files only; download = true is not supported")
        super().preflight()

    def read(self) -> RawSplits:
        c, root = self.config, self.root
        if c.download:
            raise ConfigError("core/imagefolder reads local files only; download = true is not supported")
        (train_dir, test_dir), how, is_dir = self.expected_files()
        require_files(self.title, root, [train_dir, test_dir], how, c.root, exists=is_dir)
        train, test = _image_folder(train_dir, self.title), _image_folder(test_dir, self.title)
        unknown = sorted(set(test.classes) - set(train.classes))
        if unknown:
            raise DatasetNotFoundError(f"{self.title}: test classes {unknown} have no folder in {train_dir}")
        remap = [train.class_to_idx[name] for name in test.classes]  # test's own indices -> training indices
        xt, yt = _ordered(train.samples, c.size)
        xs, ys = _ordered([(p, remap[y]) for p, y in test.samples], c.size)
        return RawSplits(xt, yt, xs, ys, list(train.classes), {"root": str(root)})


class TinyImageNet(RealDataset):
    """Tiny-ImageNet-200: (3, 64, 64), 200 classes, 100,000 train / 10,000 val (used as test)."""

    title = "Tiny-ImageNet"
    native_shape = (3, 64, 64)
    native_sizes = (100000, 10000)
    source_url = TINY_URL
    folder: ClassVar[str] = "tiny-imagenet-200"
    expected_counts: ClassVar[tuple[int, int, int]] = (200, 500, 10000)  # classes, train per class, val images

    def expected_files(self) -> tuple[list[Path], str, Callable[[Path], bool]]:
        base = self.root / self.folder
        how = f"download {TINY_URL} and extract it inside {self.root}, or set download = true in the dataset's params"
        top = [base / "wnids.txt", base / "train", base / "val" / "images", base / "val" / "val_annotations.txt"]
        return top, how, Path.exists

    def read(self) -> RawSplits:
        c, root = self.config, self.root
        base = root / self.folder
        top, how, _ = self.expected_files()
        if c.download and not (base / "wnids.txt").exists():
            from torchvision.datasets.utils import download_and_extract_archive

            download_and_extract_archive(TINY_URL, str(root))
        require_files(self.title, root, top, how, c.root)
        wnids = [w.strip() for w in _read_text(base / "wnids.txt", self.title).split() if w.strip()]
        require_files(self.title, root, [base / "train" / w / "images" for w in wnids], how, c.root)
        train = _image_folder(base / "train", self.title)
        if sorted(train.classes) != sorted(wnids):
            extra = sorted(set(train.classes) - set(wnids))
            raise DatasetNotFoundError(f"{self.title}: {base / 'train'} holds folders {extra[:5]} not listed in wnids.txt")
        val = self._val(base)
        unknown = sorted({w for _, w in val} - set(train.class_to_idx))
        if unknown:
            raise DatasetNotFoundError(
                f"{self.title}: val_annotations.txt names classes {unknown[:5]} absent from wnids.txt")
        require_files(self.title, root, [p for p, _ in val], how, c.root)
        if c.verify:
            self._check_counts(train.samples, val, len(wnids), how)
        xt, yt = _ordered(train.samples, c.size)
        paths = [p for p, _ in val]
        ys = torch.tensor([train.class_to_idx[w] for _, w in val], dtype=torch.int64)
        meta = {"folder": self.folder}
        words = base / "words.txt"
        if words.exists():
            table = dict(line.split("\t", 1) for line in _read_text(words, self.title).splitlines() if "\t" in line)
            meta["class_words"] = [table.get(w, w).split(",")[0].strip() for w in train.classes]
        return RawSplits(xt, yt, decode([str(p) for p in paths], c.size), ys, list(train.classes), meta)

    def _val(self, base: Path) -> list[tuple[Path, str]]:
        rows = []
        for n, line in enumerate(_read_text(base / "val" / "val_annotations.txt", self.title).splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise DatasetNotFoundError(f"{self.title}: val_annotations.txt line {n} is not '<file>\\t<wnid>\\t...'")
            rows.append((base / "val" / "images" / parts[0], parts[1]))

        def number(row: tuple[Path, str]) -> tuple[int, str]:
            m = re.fullmatch(r"val_(\d+)\.\w+", row[0].name)
            return (int(m.group(1)) if m else 1 << 62, row[0].name)

        return sorted(rows, key=number)

    def _check_counts(self, samples: list[tuple[str, int]], val: list[tuple[Path, str]], n_classes: int, how: str) -> None:
        k, per_class, n_val = self.expected_counts
        counts = torch.bincount(torch.tensor([y for _, y in samples], dtype=torch.int64), minlength=n_classes)
        problems = []
        if n_classes != k:
            problems.append(f"wnids.txt lists {n_classes} classes, expected {k}")
        short = [i for i, cnt in enumerate(counts.tolist()) if cnt != per_class]
        if short:
            problems.append(f"{len(short)} training classes do not hold {per_class} images (e.g. class index {short[0]}: "
                            f"{int(counts[short[0]])})")
        if len(val) != n_val:
            problems.append(f"val_annotations.txt lists {len(val)} images, expected {n_val}")
        if problems:
            raise DatasetNotFoundError(f"{self.title} is incomplete or altered: " + "; ".join(problems)
                                       + f". {how}; or set verify = false to load what is there.")
