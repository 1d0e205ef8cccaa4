"""Python 3.10 support (issue #18, item 8): tomllib falls back to tomli; every import is declared."""
import ast
import importlib
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_tomllib_falls_back_to_tomli_when_the_stdlib_module_is_missing(monkeypatch):
    import bench._compat as compat

    backport = types.ModuleType("tomli")  # stands in for the backport, whatever is installed here
    monkeypatch.setitem(sys.modules, "tomllib", None)  # what Python 3.10 has: no tomllib
    monkeypatch.setitem(sys.modules, "tomli", backport)
    try:
        assert importlib.reload(compat).tomllib is backport
    finally:
        monkeypatch.undo()
        importlib.reload(compat)
    assert compat.tomllib.__name__ == ("tomllib" if sys.version_info >= (3, 11) else "tomli")


def test_no_module_imports_tomllib_directly():
    """Every TOML reader goes through bench._compat, so the fallback covers it."""
    offenders = []
    for path in [*ROOT.glob("bench/**/*.py"), *ROOT.glob("plugins/*/robarena_*/**/*.py"), *ROOT.glob("tests/**/*.py")]:
        if path.name == "_compat.py":
            continue
        if re.search(r"^\s*(import tomllib|from tomllib import)", path.read_text(encoding="utf-8"), flags=re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


#: import name -> distribution, where they differ; the pydantic_* and annotated_types modules come with pydantic
DISTRIBUTION = {"PIL": "pillow", "sklearn": "scikit-learn", "annotated_types": "pydantic", "pydantic_core": "pydantic"}


def _third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in ROOT.glob("bench/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top != "bench" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].strip().lower() for d in requirements}


def test_every_third_party_import_of_bench_is_a_declared_dependency():
    from bench._compat import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = _names(project["dependencies"]) | {n for extra in project["optional-dependencies"].values()
                                                 for n in _names(extra)}
    imports = _third_party_imports()
    assert {"threadpoolctl", "tomli"} <= set(imports)  # undeclared before issue #18
    missing = {m: sorted(files) for m, files in imports.items()
               if DISTRIBUTION.get(m, m).lower().replace("_", "-") not in declared}
    assert missing == {}
    assert any(d.startswith("tomli") and "python_version < '3.11'" in d for d in project["dependencies"])
