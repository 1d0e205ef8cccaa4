"""A throwaway third-party plugin distribution, pip-installed for real, seen by ls, validate and run."""
import os
import subprocess
import sys
import textwrap

import pytest

DIST = "robarena-thirdparty-demo"

PYPROJECT = f"""
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST}"
version = "0.3.1"
dependencies = []

[project.entry-points."robarena.plugins"]
demo3p = "demo3p.plugin"

[tool.setuptools]
packages = ["demo3p"]
"""

PLUGIN = '''
from bench.hookspecs import hookimpl
from bench.specs import AttackSpec, DefenseSpec, ModelSpec


@hookimpl
def robarena_models():
    return [ModelSpec(name="lin", version="1", target="bench.testing.tiny:TinyLinear")]


@hookimpl
def robarena_defenses():
    return [DefenseSpec(name="plain", version="1", target="demo3p.impl:Plain")]


@hookimpl
def robarena_attacks():
    return [AttackSpec(name="corner", version="4", target="demo3p.impl:Corner", norms=["Linf"],
                       needs_gradients=False, summary="pushes every pixel to the far side of its ball")]
'''

IMPL = '''
import torch
from bench.api import Attack, Defense
from bench.api.training import fit_with_loss


class Plain(Defense):
    def fit(self, model, data, ctx):
        return fit_with_loss(model, data, self.train, ctx,
                             lambda m, x, y, c: torch.nn.functional.cross_entropy(m(x), y))


class Corner(Attack):
    norms = ("Linf",)

    def run(self, model, x, y, threat, generator, target=None):
        return threat.project(torch.where(x < 0.5, x + threat.eps, x - threat.eps), x)
'''

SUITE = """
name = "third-party"
[[datasets]]
id = "core/digits"
params = { n_train = 200, n_test = 40 }
[[models]]
id = "demo3p/lin"
[[defenses]]
id = "demo3p/plain"
[[attacks]]
id = "demo3p/corner"
eps = "16/255"
[train]
epochs = 2
batch_size = 50
[eval]
n = 40
"""


def sh(*args, **kw):
    env = {**os.environ, **kw.pop("env", {})}
    env.pop("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(list(args), capture_output=True, text=True, env=env, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    (root / "demo3p").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "demo3p" / "__init__.py").write_text("")
    (root / "demo3p" / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    (root / "demo3p" / "impl.py").write_text(textwrap.dedent(IMPL))
    out = sh(sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(root))
    assert out.returncode == 0, out.stderr
    yield root
    sh(sys.executable, "-m", "pip", "uninstall", "-y", "-q", DIST)


def test_ls_shows_the_plugin_with_its_distribution(installed):
    out = sh("robarena", "ls", "attacks")
    assert out.returncode == 0, out.stderr
    assert f"{DIST}-0.3.1 (demo3p)" in out.stdout  # the header, pytest-style
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("demo3p/corner"))
    assert "v4" in line and f"{DIST}-0.3.1" in line


def test_block_with_p_no(installed):
    out = sh("robarena", "-p", "no:demo3p", "ls", "attacks")
    assert "demo3p/corner" not in out.stdout


def test_validate_and_run_with_the_plugin(installed, tmp_path):
    out = sh("robarena", "validate")
    checked = [ln.split() for ln in out.stdout.splitlines() if "demo3p/" in ln]
    assert len(checked) == 3 and all(words[0] == "ok" for words in checked), out.stdout
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)
    out = sh("robarena", "run", str(suite), "--workdir", str(tmp_path / "wd"), "--no-progress", "--columns", "corner")
    assert out.returncode == 0, out.stdout + out.stderr
    header = out.stdout.splitlines()[:2]  # two-line headers: the attack, then its threat
    assert "corner" in header[0].split() and "Linf 16/255" in header[1]
    out = sh("robarena", "show", "third-party", "lin", "--workdir", str(tmp_path / "wd"))
    assert f'"{DIST}": "0.3.1"' in out.stdout and '"demo3p/corner": "4"' in out.stdout


def test_mock_run_of_the_plugin(installed):
    out = sh("robarena", "mock-run", "demo3p")
    assert out.returncode == 0, out.stdout + out.stderr
    header = out.stdout.splitlines()[:2]  # every column, two-line headers: the attack, then its threat
    assert "corner" in header[0].split() and "Linf 0.1" in header[1]
