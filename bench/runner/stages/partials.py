"""Per-epoch training checkpoints (``<workdir>/partial/<key>.pt``) that let a killed training resume.

:func:`keeping` wraps a saver and loader so that the weights of chosen epochs (probes over training)
are also put in the artifact cache as they are reached; their digests travel in the partial
checkpoint, so a resumed training still knows the epochs it kept before the interruption."""
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


KEPT = "kept_epochs"  # the partial checkpoint's entry: {epoch (str): digest of that epoch's weights}


def keeping(save: Callable[[int, dict], None], load: Callable[[], Optional[tuple[int, dict]]], epochs: tuple[int, ...],
            put: Callable[[dict], str], kept: dict[int, str]
            ) -> tuple[Callable[[int, dict], None], Callable[[], Optional[tuple[int, dict]]]]:
    """``(save, load)`` that also store ``state["model"]`` of each epoch in ``epochs`` with ``put`` (the
    artifact cache) and record its digest in ``kept`` (filled again from the checkpoint on resume)."""
    def save_keeping(epoch: int, state: dict) -> None:
        if epoch in epochs:
            kept[epoch] = put(state["model"])
        save(epoch, {**state, KEPT: {str(e): d for e, d in kept.items()}})

    def load_keeping() -> Optional[tuple[int, dict]]:
        resumed = load()
        if resumed is None:
            return None
        epoch, state = resumed
        kept.update({int(e): d for e, d in (state.pop(KEPT, None) or {}).items()})
        return epoch, state
    return save_keeping, load_keeping
