"""Content-addressed artifact cache: ``objects/<h[:2]>/<h>`` where ``h`` is the sha256 of the bytes.

Writes are atomic (temporary file + ``os.replace``) and reads verify the hash, so a
truncated or corrupted artifact raises :class:`CorruptArtifactError` and is recomputed by
the runner instead of being trusted. Tensors are stored as safetensors, never pickled.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import CorruptArtifactError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch


class ArtifactCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "objects"

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get_bytes(self, digest: str) -> bytes:
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise CorruptArtifactError(f"artifact {digest[:12]} is missing from {self.root}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptArtifactError(
                f"artifact {target} does not match its sha256 (truncated or modified); it will be recomputed"
            )
        return data

    def has(self, digest: str) -> bool:
        try:
            self.get_bytes(digest)
        except CorruptArtifactError:
            return False
        return True

    def discard(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    # ------------------------------------------------------------------ typed helpers
    def put_tensors(self, tensors: "dict[str, torch.Tensor]") -> str:
        from safetensors.torch import save

        return self.put_bytes(save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}))

    def get_tensors(self, digest: str) -> "dict[str, torch.Tensor]":
        from safetensors.torch import load

        return self._parse(digest, load)

    def put_arrays(self, arrays: "dict[str, np.ndarray]") -> str:
        import numpy as np
        from safetensors.numpy import save

        return self.put_bytes(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))

    def get_arrays(self, digest: str) -> "dict[str, np.ndarray]":
        from safetensors.numpy import load

        return self._parse(digest, load)

    def _parse(self, digest: str, load):
        data = self.get_bytes(digest)
        try:
            return load(data)
        except Exception as exc:  # e.g. a pickle planted under a tampered record's digest: refused, never unpickled
            raise CorruptArtifactError(
                f"artifact {self.path(digest)} is not a safetensors file ({exc}); cached artifacts are only ever "
                "read as safetensors. Delete the file and the next run recomputes it"
            ) from None
