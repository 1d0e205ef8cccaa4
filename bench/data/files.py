"""Local data roots, expected-file checks and checksum verification for the real datasets.

Real datasets never download at run time unless the user sets ``download = true``. Before
torchvision is called, the loader checks that every expected file is present and (with
``verify = true``) that its md5 matches the official one, and raises an error naming the
missing or corrupted files, where they were expected and how to obtain them.

The data root is, in order: the dataset's ``root`` parameter, the environment variable
``ROBARENA_DATA``, or ``~/.robarena/data``. It is resolved at load time and is not part of
the dataset's parameters by default, so cache keys do not depend on where the files live
(the data fingerprint pins their content).
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

from bench.errors import DatasetChecksumError, DatasetNotFoundError  # noqa: F401 (re-exported)

ENV_VAR = "ROBARENA_DATA"
DEFAULT_ROOT = "~/.robarena/data"
MAX_LISTED = 30  # longer lists of expected files name only the first missing ones


def data_root(root: Optional[str]) -> Path:
    """``root`` if given, else ``$ROBARENA_DATA``, else ``~/.robarena/data`` (``~`` expanded)."""
    chosen = root if root else os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(chosen).expanduser()


def describe_root(root: Path, explicit: Optional[str]) -> str:
    """Where ``root`` came from, for error messages."""
    if explicit:
        return f"root = {str(root)!r} (the dataset's 'root' parameter)"
    if os.environ.get(ENV_VAR):
        return f"root = {str(root)!r} (from ${ENV_VAR})"
    return f"root = {str(root)!r} (the default; set ${ENV_VAR} or the dataset's 'root' parameter to change it)"


def require_files(title: str, root: Path, paths: Iterable[Path], how: str, explicit_root: Optional[str] = None,
                  exists: Callable[[Path], bool] = Path.exists) -> None:
    """Raise :class:`DatasetNotFoundError` listing every expected path and which are missing."""
    paths = list(paths)
    missing = [p for p in paths if not exists(p)]
    if not missing:
        return
    gone = set(missing)
    if len(paths) <= MAX_LISTED:
        lines = [f"  {p}  {'MISSING' if p in gone else 'ok'}" for p in paths]
    else:  # e.g. thousands of image files: name the first missing ones only
        lines = [f"  {p}  MISSING" for p in missing[:MAX_LISTED]]
        if len(missing) > MAX_LISTED:
            lines.append(f"  ... and {len(missing) - MAX_LISTED} more missing")
    state = "not found" if len(missing) == len(paths) else "incomplete"
    raise DatasetNotFoundError(
        f"{title} {state} under {describe_root(root, explicit_root)}.\n"
        f"Expected these files ({len(missing)} of {len(paths)} missing):\n" + "\n".join(lines) + f"\nTo obtain them: {how}"
    )


def md5_of(path: Path) -> str:
    """md5 of a file, computed by torchvision's own helper (the one its loaders check with)."""
    from torchvision.datasets.utils import calculate_md5

    return calculate_md5(str(path))


def verify_md5(title: str, root: Path, table: Mapping[str, str], how: str) -> None:
    """Check each ``root / relative_path`` against its md5; raise :class:`DatasetChecksumError` on mismatch."""
    from torchvision.datasets.utils import check_integrity

    bad = []
    for rel, md5 in table.items():
        path = root / rel
        if path.exists() and not check_integrity(str(path), md5):
            bad.append(f"  {path}: md5 {md5_of(path)}, expected {md5}")
    if bad:
        raise DatasetChecksumError(
            f"{title}: {len(bad)} file(s) under {root} do not match the official checksums "
            "(corrupted, truncated or a different version):\n" + "\n".join(bad)
            + f"\nReplace them: {how}\nOr set verify = false in the dataset's params to load them anyway "
            "(the data fingerprint in every result row still records exactly what was used)."
        )


def gunzip_matches(archive: Path, extracted: Path) -> bool:
    """Whether ``extracted`` holds exactly the decompressed bytes of the gzip ``archive``."""
    h_arc, h_ext = hashlib.sha256(), hashlib.sha256()
    with gzip.open(archive, "rb") as f:
        while chunk := f.read(1 << 20):
            h_arc.update(chunk)
    with open(extracted, "rb") as f:
        while chunk := f.read(1 << 20):
            h_ext.update(chunk)
    return h_arc.digest() == h_ext.digest()
