"""Directory options every command shares (``--workdir``, ``--root``): refused early when they name a file."""
from __future__ import annotations

import argparse
import errno
import os
import stat

from bench.errors import UsageError

DIRECTORY_OPTIONS = {"workdir": "--workdir", "root": "--root"}


def check_directory_options(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` when ``--workdir`` or ``--root`` exists but is not a directory."""
    for attr, flag in DIRECTORY_OPTIONS.items():
        value = getattr(args, attr, None)
        if not isinstance(value, (str, os.PathLike)):
            continue
        try:
            mode = os.stat(value).st_mode
        except OSError as exc:
            if exc.errno in (errno.ENOENT,):
                continue  # created when needed
            if exc.errno == errno.ENOTDIR:
                raise UsageError(f"{flag} {value}: a parent of it is a file, not a directory; pass a directory") from None
            raise UsageError(f"{flag} {str(value)[:200]!r} cannot be used: {exc.strerror}; pass another directory") from None
        if not stat.S_ISDIR(mode):
            raise UsageError(f"{flag} {value} is a file, not a directory; pass a directory (it is created when "
                             "missing)")


def check_writable_workdir(workdir: "str | os.PathLike[str]") -> None:
    """Raise :class:`UsageError` unless results can be written in ``workdir`` (or where it would be created).

    Probes the directory (or its nearest existing parent) with a temporary file, so a read-only
    work directory is refused before anything runs, whoever the user is.
    """
    import tempfile
    from pathlib import Path

    path = Path(workdir)
    probe = next((p for p in (path, *path.parents) if p.is_dir()), Path("."))
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        where = exc.strerror if probe == path else f"its parent {probe}: {exc.strerror}"
        raise UsageError(f"--workdir {path} cannot be written ({where}); a run stores its results "
                         "there: make it writable or pass another --workdir (`robarena show` and `leaderboard build` "
                         "read a read-only work directory as it is)") from None
