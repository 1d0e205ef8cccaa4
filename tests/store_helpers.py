"""A finished tiny run to damage (made once per test process and copied per test), and the CLI runner
the store and bad-input tests share."""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

TESTS = Path(__file__).parent
TESTKIT = TESTS / "testkit"
SUITE_TOML = """name = "tiny"
datasets = [{id = "core/digits", params = {n_train = 300, n_test = 60}}]
models = [{id = "tiny-linear"}]
defenses = [{id = "erm"}]
attacks = [{id = "sign", eps = 0.1, params = {steps = 3}}]
probes = [{id = "confidence"}]
[train]
epochs = 3
batch_size = 32
lr = 0.1
[eval]
n = 60
batch_size = 32
"""
_TEMPLATE: Optional[Path] = None


def _template(base: Path) -> Path:
    global _TEMPLATE
    if _TEMPLATE is None or not _TEMPLATE.is_dir():
        import bench
        from bench.registry import _CACHE

        target = base / "tiny-run"
        with pytest.MonkeyPatch.context() as mp:
            mp.syspath_prepend(str(TESTKIT))
            mp.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")
            _CACHE.clear()
            suite = target.parent / "tiny.toml"
            suite.write_text(SUITE_TOML, encoding="utf-8")
            result = bench.run(str(suite), workdir=target, plugins=("robarena_testkit",), device="cpu")
            _CACHE.clear()
        assert result.ok and len(result.rows) == 1
        _TEMPLATE = target
    return _TEMPLATE


@pytest.fixture
def workdir(tmp_path_factory, tmp_path) -> Path:
    """A copy of a finished run of suite ``tiny`` (one row) in ``tmp_path / 'wd'``."""
    return Path(shutil.copytree(_template(tmp_path_factory.getbasetemp()), tmp_path / "wd"))


def digest_tree(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (to show that nothing stored changed)."""
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _drop_file_privileges() -> None:  # pragma: no cover - runs in the child
    """As root, give up the capabilities that ignore file permissions, so read-only means read-only."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone from the exec'd program
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


_CHILD = """
import contextlib, io, json, sys, traceback
from bench.cli.main import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = None
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def cli_child(*commands: list[str], cwd: Path, unprivileged: bool = False) -> list[dict]:
    """Run each ``robarena`` command in one child process (as root: without the capabilities that
    bypass file permissions); ``[{"code", "out", "err"}]`` per command (code None: an exception)."""
    import json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTKIT), os.environ.get("PYTHONPATH", "")]),
           "ROBARENA_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    argvs = [["-p", "robarena_testkit", *command] for command in commands]
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argvs)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, preexec_fn=_drop_file_privileges if unprivileged else None)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)


def make_writable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
