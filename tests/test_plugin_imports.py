"""No plugin imports another plugin's package: plugins meet only through bench's public API and the registry.

Walks every ``.py`` file under ``plugins/<name>/`` (its packages and its tests) with ``ast`` and
collects imports of a ``robarena_<other>`` package, ``importlib.import_module("robarena_<other>...")``
and ``__import__`` calls included. Another plugin's component comes from the registry instead, declared
as a task dependency where a task runs it (see docs/plugin-guide.md).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def own_packages(plugin_dir: Path) -> set[str]:
    return {p.name for p in plugin_dir.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement and literal dynamic import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"}:
                found.append((node.lineno, node.args[0].value))
    return found


def foreign_imports(plugin_dir: Path, all_packages: set[str]) -> list[str]:
    """``path:line module`` for each import of another plugin's package under ``plugin_dir``."""
    own = own_packages(plugin_dir)
    out = []
    for path in sorted(plugin_dir.rglob("*.py")):
        if any(part.endswith(".egg-info") or part == "build" for part in path.relative_to(plugin_dir).parts):
            continue
        for line, module in sorted(imported_modules(ast.parse(path.read_text(), str(path)))):
            top = module.split(".")[0]
            if top in all_packages and top not in own:
                out.append(f"{path.relative_to(plugin_dir.parent)}:{line} {module}")
    return out


PLUGIN_DIRS = sorted(p for p in PLUGINS.iterdir() if p.is_dir() and own_packages(p))
ALL_PACKAGES = set().union(*(own_packages(p) for p in PLUGIN_DIRS))


def test_every_builtin_plugin_is_walked():
    assert {p.name for p in PLUGIN_DIRS} >= {"classics", "margins", "recognizability", "guessfirst",
                                               "infotransfer", "disentangle"}
    assert "robarena_classics" in ALL_PACKAGES


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_no_plugin_imports_another_plugins_package(plugin_dir):
    bad = foreign_imports(plugin_dir, ALL_PACKAGES)
    assert not bad, ("plugins may import bench's public API only; get other plugins' components from the "
                     "registry (and declare them in Task.dependencies):\n" + "\n".join(bad))


def test_the_walk_finds_every_form_of_import(tmp_path):
    """A planted plugin importing another one in each way is caught on every line; its own package is not."""
    plugin = tmp_path / "mine"
    (plugin / "robarena_mine").mkdir(parents=True)
    (plugin / "robarena_mine" / "__init__.py").write_text("")
    (plugin / "tests").mkdir()
    (plugin / "tests" / "test_x.py").write_text(
        "import robarena_other\n"
        "import robarena_other.attacks as a\n"
        "from robarena_other.core import f\n"
        "from robarena_mine import g\n"
        "import importlib\n"
        "def h():\n"
        "    from robarena_other import x\n"
        "    importlib.import_module('robarena_other.y')\n"
        "    __import__('robarena_other')\n"
        "from . import sibling\n")
    bad = foreign_imports(plugin, {"robarena_mine", "robarena_other"})
    assert [b.split(" ")[0] for b in bad] == [f"mine/tests/test_x.py:{n}" for n in (1, 2, 3, 7, 8, 9)]
