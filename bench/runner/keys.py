"""Cache keys: a hash over the canonical JSON of everything a cell's result depends on."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from bench import __version__


def canonical(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); floats by repr so 0.1 != 0.1000001."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def cell_key(stage: str, parts: dict[str, Any]) -> str:
    """32 hex digits of sha256 over the stage, the core version and ``parts``."""
    payload = canonical({"stage": stage, "core": __version__, **parts})
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
