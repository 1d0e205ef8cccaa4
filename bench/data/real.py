"""Shared machinery of the real (on-disk) datasets: parameters, subsets, resizing, conversion.

Each real dataset reads its files through ``torchvision.datasets`` into uint8 NCHW arrays
(:class:`RawSplits`); :meth:`RealDataset.load` then applies, in this order:

1. fixed evaluation subsets: ``test_ids`` (a published list of indices into the official
   test split, kept in the listed order), then ``n_test`` (the first n of what remains) and
   ``n_train`` (the first n training examples, in the files' order);
2. ``size``: resize to ``size x size`` (bilinear with antialiasing, torchvision);
3. ``crop``: centre crop to ``crop x crop`` (torchvision), e.g. P1's 56x56 Tiny-ImageNet;
4. ``channels``: 1 -> 3 by replication (P2's MNIST / Fashion-MNIST targets for RGB models),
   3 -> 1 by ITU-R 601 luma (torchvision's ``rgb_to_grayscale``);
5. conversion to float32 in [0, 1] (divide by 255) and int64 labels.

Selecting before converting keeps memory low; the full float32 CIFAR-10 is 60,000 x 3 x 32
x 32 x 4 bytes = 737 MB, Tiny-ImageNet 110,000 x 3 x 64 x 64 x 4 bytes = 5.4 GB (56x56
crops: 4.1 GB), so use ``n_train`` on small machines.
"""
from __future__ import annotations

import json
import re
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Optional, Union

import torch
from pydantic import Field, field_validator

from bench.api.config import BaseConfig
from bench.api.data import Dataset, DatasetSplits
from bench.data.files import data_root, describe_root, require_files
from bench.errors import ConfigError, DatasetNotFoundError


class RealConfig(BaseConfig):
    """Parameters shared by every real dataset."""

    root: Optional[str] = Field(None, description="data root (default $ROBARENA_DATA or ~/.robarena/data)")
    download: bool = Field(False, description="let torchvision download missing files from the official source")
    verify: bool = Field(True, description="check files against the official md5s (or counts) before loading")
    n_train: Optional[int] = Field(None, ge=1, description="first n training examples (default all)")
    n_test: Optional[int] = Field(None, ge=1, description="first n test examples, after test_ids (default all)")
    test_ids: Union[None, list[int], str] = Field(
        None, description="published evaluation subset: indices into the official test split, "
                          "or a path to a .json (list, or {'ids': [...]}) or text file of indices")
    size: Optional[int] = Field(None, ge=1, description="resize to size x size (bilinear, antialiased)")
    crop: Optional[int] = Field(None, ge=1, description="centre crop to crop x crop, after size")
    channels: Optional[Literal[1, 3]] = Field(None, description="convert to 1 (luma) or 3 (replicate) channels")

    @field_validator("test_ids")
    @classmethod
    def _check_ids(cls, v: Union[None, list[int], str]) -> Union[None, list[int], str]:
        if isinstance(v, list):
            _check_id_list(v, "test_ids")
        return v


def _check_id_list(ids: list[int], where: str) -> None:
    if not ids:
        raise ValueError(f"{where}: the id list is empty")
    if any(i < 0 for i in ids):
        raise ValueError(f"{where}: ids must be >= 0, got {min(ids)}")
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{where}: ids must be unique, repeated: {dup}")


MAX_ID_FILE_BYTES = 64 << 20


def read_ids(spec: Union[list[int], str]) -> list[int]:
    """An id list given inline or as a path to a JSON file or a text file (whitespace/comma separated, '#' comments).

    A file that is not an id list is reported without quoting its content (``test_ids = "/etc/passwd"``
    must not copy the file's first line into error rows).
    """
    if isinstance(spec, list):
        return spec
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(f"test_ids file {str(path)!r} does not exist "
                          "(relative paths are taken from the working directory)")

    def invalid(why: str) -> ConfigError:
        return ConfigError(f"test_ids file {str(path)!r} is not a valid id list ({why}); give a JSON list of "
                           "integers, {'ids': [...]}, or a text file of integers separated by spaces, commas or lines")

    try:
        if path.stat().st_size > MAX_ID_FILE_BYTES:
            raise invalid(f"larger than {MAX_ID_FILE_BYTES >> 20} MB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid(f"cannot be read as UTF-8 text: {type(exc).__name__}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            raise invalid("not valid JSON") from None
        ids = data.get("ids") if isinstance(data, dict) else data
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise invalid("expected a list of integers")
    else:
        tokens = " ".join(line.split("#", 1)[0] for line in text.splitlines()).replace(",", " ").split()
        bad = next((n for n, t in enumerate(tokens, 1) if not re.fullmatch(r"[+-]?\d+", t)), None)
        if bad is not None:
            raise invalid(f"token {bad} is not an integer")
        ids = [int(t) for t in tokens]
    try:
        _check_id_list(ids, f"test_ids file {str(path)!r}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return ids


@dataclass
class RawSplits:
    """Decoded files: ``x_*`` uint8 (N, C, H, W), ``y_*`` int64 (N,), in the files' order."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


def select(raw: RawSplits, n_train: Optional[int], n_test: Optional[int], test_ids: Optional[list[int]]) -> RawSplits:
    """Apply the fixed subsets (see the module docstring)."""
    xs, ys = raw.x_test, raw.y_test
    if test_ids is not None:
        bad = [i for i in test_ids if i >= xs.shape[0]]
        if bad:
            raise ConfigError(f"test_ids {bad[:5]} are out of range: the test split has {xs.shape[0]} examples "
                              f"(ids 0..{xs.shape[0] - 1})")
        idx = torch.tensor(test_ids, dtype=torch.int64)
        xs, ys = xs[idx], ys[idx]
    return RawSplits(raw.x_train[:n_train], raw.y_train[:n_train], xs[:n_test], ys[:n_test], raw.class_names, raw.meta)


def reshape_images(x: torch.Tensor, size: Optional[int], crop: Optional[int], channels: Optional[int]) -> torch.Tensor:
    """Resize, centre-crop and convert channels of a uint8 (N, C, H, W) batch with torchvision."""
    from torchvision.transforms.v2 import functional as F

    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.resize(x, [size, size], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
    if crop is not None:
        h, w = x.shape[-2:]
        if crop > min(h, w):
            raise ConfigError(f"crop = {crop} is larger than the {h}x{w} images (after size); use crop <= {min(h, w)}")
        x = F.center_crop(x, [crop, crop])
    if channels is not None and x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif channels == 1 and x.shape[1] == 3:
            x = F.rgb_to_grayscale(x, num_output_channels=1)
        else:
            raise ConfigError(f"cannot convert {x.shape[1]} channels to {channels}")
    return x.contiguous()


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1]."""
    return x.to(torch.float32).div_(255.0)


class RealDataset(Dataset):
    """Base of the on-disk datasets: subclasses implement :meth:`read` (check, verify, decode)."""

    Config: ClassVar[type[BaseConfig]] = RealConfig
    title: ClassVar[str] = ""
    native_shape: ClassVar[Optional[tuple[int, int, int]]] = None
    #: (train, test) sizes of the official splits, for ``run --dry-run`` without the files; None if unknown
    native_sizes: ClassVar[Optional[tuple[int, int]]] = None
    source_url: ClassVar[str] = ""

    @property
    def root(self) -> Path:
        return data_root(self.config.root)

    @abstractmethod
    def read(self) -> RawSplits:
        """Check the expected files (download them first if asked), verify, decode into uint8."""

    def expected_files(self) -> Optional[tuple[list[Path], str, Callable[[Path], bool]]]:
        """The files :meth:`read` checks first: (paths, how to obtain them, presence test); None if unknown."""
        return None

    def preflight(self) -> None:
        """Cheap checks made while planning, before a run is recorded (no file is decoded): a
        ``test_ids`` file, that the data root is a directory and, unless ``download = true``, that
        the :meth:`expected_files` are present."""
        c, root = self.config, self.root
        if c.test_ids is not None:
            read_ids(c.test_ids)
        if root.exists() and not root.is_dir():
            raise DatasetNotFoundError(f"{self.title or type(self).__name__}: the data root is a file, not a "
                                       f"directory: {describe_root(root, c.root)}")
        if c.download:
            return
        expected = self.expected_files()
        if expected is not None:
            paths, how, exists = expected
            require_files(self.title, root, paths, how, c.root, exists=exists)
        elif not root.is_dir():
            raise DatasetNotFoundError(f"{self.title or type(self).__name__}: the data root does not exist: "
                                       f"{describe_root(root, c.root)}; see docs/datasets.md for the files it expects")

    @classmethod
    def output_shape(cls, config: RealConfig) -> Optional[tuple[int, int, int]]:
        """The (C, H, W) that :meth:`load` returns for ``config`` (None when it depends on the files)."""
        if cls.native_shape is None and config.size is None:
            return None
        c, h, w = cls.native_shape or (3, 0, 0)
        if config.size is not None:
            h = w = config.size
        if config.crop is not None:
            h = w = config.crop
        return (config.channels or c, h, w)

    @classmethod
    def output_sizes(cls, config: RealConfig) -> Optional[tuple[int, int]]:
        """The (train, test) sizes :meth:`load` returns for ``config``, from :attr:`native_sizes` (no file is
        read but a ``test_ids`` file); None when unknown."""
        if cls.native_sizes is None:
            return None
        n_train, n_test = cls.native_sizes
        if config.test_ids is not None:
            n_test = len(read_ids(config.test_ids))
        return min(n_train, config.n_train or n_train), min(n_test, config.n_test or n_test)

    def load(self) -> DatasetSplits:
        c = self.config
        ids = read_ids(c.test_ids) if c.test_ids is not None else None
        raw = select(self.read(), c.n_train, c.n_test, ids)
        xt = to_float(reshape_images(raw.x_train, c.size, c.crop, c.channels))
        xs = to_float(reshape_images(raw.x_test, c.size, c.crop, c.channels))
        meta = {"source": self.source_url, **raw.meta}
        if ids is not None:
            meta["test_ids"] = len(ids)
        return DatasetSplits(xt, raw.y_train.to(torch.int64), xs, raw.y_test.to(torch.int64),
                             len(raw.class_names), list(raw.class_names), meta)
