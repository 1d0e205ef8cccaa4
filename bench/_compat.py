"""Standard-library backports for the oldest supported Python (3.10).

``tomllib`` (the TOML parser of Python 3.11+) comes from its backport ``tomli`` on 3.10
(a dependency there: ``tomli>=2; python_version < '3.11'``); both have the same API.
"""
from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["tomllib"]
