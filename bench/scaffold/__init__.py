"""``robarena plugin new NAME``: write a third-party plugin distribution that installs and passes its tests.

The files are :mod:`string.Template` texts (``$name``, ``$pkg``, ``$dist``, ``$title``) kept
next to this module as ``*.tmpl`` package data, so they read as the files they become.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from bench.errors import UsageError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

# template file -> path in the new distribution ("PKG" is replaced by the package name)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "init.py.tmpl": "PKG/__init__.py",
    "plugin.py.tmpl": "PKG/plugin.py",
    "gradient_sign.py.tmpl": "PKG/gradient_sign.py",
    "confidence.py.tmpl": "PKG/confidence.py",
    "demo.toml.tmpl": "PKG/suites/demo.toml",
    "test_plugin.py.tmpl": "tests/test_PKG.py",
}


def names_for(name: str) -> dict[str, str]:
    """``my-attacks`` -> plugin name ``my-attacks``, package ``robarena_my_attacks``, dist ``robarena-my-attacks``."""
    if not NAME_RE.match(name):
        raise UsageError(f"plugin name {name!r} is not valid: use lowercase letters and digits, words joined by "
                         "'-' or '_', starting with a letter (e.g. 'my-attacks')")
    if name in {"core", "bench"}:
        raise UsageError(f"plugin name {name!r} is reserved by robarena; choose another")
    snake = name.replace("-", "_")
    return {"name": name, "pkg": f"robarena_{snake}", "dist": f"robarena-{name.replace('_', '-')}",
            "title": name.replace("-", " ").replace("_", " ")}


def render(template: str, values: dict[str, str]) -> str:
    text = resources.files(__name__).joinpath("templates", template).read_text(encoding="utf-8")
    return Template(text).substitute(values)


def create(name: str, directory: Path, force: bool = False) -> list[Path]:
    """Write the distribution for plugin ``name`` into ``directory`` (created; must be empty unless ``force``)."""
    values = names_for(name)
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise UsageError(f"{directory} exists and is not empty; choose another --dir or pass --force to overwrite")
    written = []
    for template, relative in FILES.items():
        path = directory / relative.replace("PKG", values["pkg"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(template, values), encoding="utf-8")
        written.append(path)
    return written
