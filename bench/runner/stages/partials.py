"""Per-epoch training checkpoints (``<workdir>/partial/<key>.pt``) that let a killed training resume."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import torch


def remove_stale_partials(path: Path) -> None:
    """Delete ``<path>.<pid>.tmp`` files left by killed writers (a live writer's file is kept)."""
    for tmp in path.parent.glob(f"{path.name}.*.tmp"):
        try:
            pid = int(tmp.name[len(path.name) + 1:-len(".tmp")])
        except ValueError:
            continue
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:  # exists, owned by someone else
            pass


def epoch_saver(path: Path) -> Callable[[int, dict], None]:
    """Write an epoch's state atomically (two runs may train the same cell at once)."""
    def save(epoch: int, state: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{path.name}.{os.getpid()}.tmp"
        torch.save({"epoch": epoch, **state}, tmp)
        tmp.replace(path)
    return save


def epoch_loader(path: Path) -> Callable[[], Optional[tuple[int, dict]]]:
    """Read the last saved epoch, weights-only; an unreadable file is deleted and training restarts."""
    def load() -> Optional[tuple[int, dict]]:
        if not path.exists():
            return None
        try:  # our own file, but still never a full unpickle
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            path.unlink(missing_ok=True)
            return None
        return int(state.pop("epoch")), state
    return load
