"""`robarena plugin new NAME` writes a distribution that installs, registers and passes its own tests."""
import os
import subprocess
import sys

import pytest

from bench.cli.main import main
from bench.errors import UsageError
from bench.scaffold import FILES, create, names_for


def sh(*args, cwd=None):
    env = dict(os.environ)
    env.pop("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=cwd)


def test_names():
    assert names_for("my-attacks") == {"name": "my-attacks", "pkg": "robarena_my_attacks",
                                       "dist": "robarena-my-attacks", "title": "my attacks"}
    for bad in ("My", "1x", "a--b", "a b", "x/y", "", "core"):
        with pytest.raises(UsageError):
            names_for(bad)


def test_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        create("demo-x", tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"  # nothing lost
    assert len(create("demo-x", tmp_path, force=True)) == len(FILES)


def test_generated_plugin_installs_and_passes_its_tests(tmp_path, capsys):
    target = tmp_path / "robarena-scaffold-probe"
    assert main(["plugin", "new", "scaffold-probe", "--dir", str(target)]) == 0
    assert "pip install -e" in capsys.readouterr().out
    pkg = target / "robarena_scaffold_probe"
    assert (pkg / "plugin.py").exists() and (target / "tests" / "test_robarena_scaffold_probe.py").exists()
    out = sh(sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(target))
    assert out.returncode == 0, out.stderr
    try:
        out = sh("robarena", "ls", "plugins")
        assert "robarena-scaffold-probe-0.1.0 (scaffold-probe)" in out.stdout, out.stdout + out.stderr
        out = sh("robarena", "validate")
        ours = [line.split() for line in out.stdout.splitlines()
                if "scaffold-probe/" in line and not line.startswith("WARNING")]
        assert len(ours) == 3 and all(words[0] == "ok" for words in ours), out.stdout
        # the template's probe is named 'confidence', like margins' probe: validate says the bare name is ambiguous
        assert "WARNING: probe name 'confidence' is registered by" in out.stdout
        out = sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=target)
        assert out.returncode == 0 and "6 passed" in out.stdout, out.stdout + out.stderr
    finally:
        sh(sys.executable, "-m", "pip", "uninstall", "-y", "-q", "robarena-scaffold-probe")
