"""Where a snapshot is written before it is renamed into place, and the cleanup of killed builds.

A build writes into ``<root>/<suite>/.<version>.<pid>-<host>.<random>.tmp`` (``host``: 8 hex
digits of the host name's sha256). A build that was killed leaves that folder behind; the next
build of any version of the suite removes it when its owner ran on this host and is gone.
Folders from robarena versions that did not name their owner (``.<version>.<random>.tmp``) are
removed once they are a day old.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Union

from bench.errors import LeaderboardError
from bench.store.liveness import host_tag, process_alive, this_host

_OWNED = re.compile(r"^\..+\.(?P<pid>\d+)-(?P<host>[0-9a-f]{8})\.[a-z0-9_]+\.tmp$")
_UNOWNED = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
UNOWNED_MAX_AGE_S = 24 * 3600


def check_root(root: Union[str, Path]) -> Path:
    """``root`` as a Path; a :class:`LeaderboardError` when it (or a parent) is a file."""
    root = Path(root)
    for path in (root, *root.parents):
        if path.exists() and not path.is_dir():
            what = "" if path == root else f" (its parent {path} is a file)"
            raise LeaderboardError(f"leaderboard root {root} is not a directory{what}; pass --root a directory "
                                   "(it is created when missing)")
        if path.is_dir():
            break
    return root


def is_stale(folder: Path, now: float) -> bool:
    """True for a build folder whose build is over: owner gone, or unowned and older than a day."""
    owned = _OWNED.match(folder.name)
    if owned:
        return owned["host"] == host_tag(this_host()) and not process_alive(int(owned["pid"]))
    if _UNOWNED.match(folder.name):
        try:
            return now - folder.stat().st_mtime > UNOWNED_MAX_AGE_S
        except OSError:
            return False
    return False


def remove_stale(suite_dir: Path) -> list[Path]:
    """Delete the leftover build folders of killed builds in ``suite_dir``; return them."""
    now, removed = time.time(), []
    try:
        candidates = [p for p in suite_dir.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for folder in candidates:
        if folder.is_dir() and not folder.is_symlink() and is_stale(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def make_staging_dir(suite_dir: Path, version: str) -> Path:
    """A fresh build folder in ``suite_dir`` (created with its parents), after removing stale ones."""
    try:
        suite_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(suite_dir)
        owner = f"{os.getpid()}-{host_tag(this_host())}"
        return Path(tempfile.mkdtemp(prefix=f".{version}.{owner}.", suffix=".tmp", dir=suite_dir))
    except OSError as exc:
        raise LeaderboardError(f"cannot write the snapshot under {suite_dir}: {exc.strerror}; pass a --root you can "
                               "write") from None
