"""Code fingerprints: what source a component's results come from, part of every cache key.

A plugin edited in place (an editable install, same version number) must not be served its old
results. A component's fingerprint is the sha256 over the relative paths and bytes of every
``.py`` file of the package that holds its implementation — the top-level package of a plugin
(``robarena_classics``), or for the core the subpackage (``bench.data``), since the core's own
version and runner are keyed separately. Each package is hashed once per process (about 10 ms
for a plugin); files are read, never imported or executed.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Optional

CORE = "bench"


def package_of(target: str) -> str:
    """The package whose files make a target's fingerprint: 'pkg.mod:Attr' -> 'pkg', 'bench.data.x:Y' -> 'bench.data'."""
    parts = target.partition(":")[0].split(".")
    return ".".join(parts[:2]) if parts[0] == CORE and len(parts) > 2 else parts[0]


@lru_cache(maxsize=None)
def package_fingerprint(package: str) -> Optional[str]:
    """sha256 (16 hex digits) of the package's ``.py`` files, or None when it has no files on disk."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    if not roots:  # a single-module package: that file alone
        return _digest([Path(spec.origin)]) if spec.origin and Path(spec.origin).is_file() else None
    files = sorted(p for root in roots for p in Path(root).rglob("*.py") if "__pycache__" not in p.parts)
    return _digest(files, Path(roots[0]))


def _digest(files: list[Path], base: Optional[Path] = None) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(base) if base else path.name).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def code_fingerprint(target: str) -> Optional[str]:
    """The fingerprint of the code behind ``target`` ('module:attr'); see the module docstring."""
    return package_fingerprint(package_of(target))
