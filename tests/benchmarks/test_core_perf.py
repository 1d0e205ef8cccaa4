"""Core performance targets (issue: core). Not part of the default run; see README "Benchmarks".

* ``python -c "import bench"`` (target < 0.3 s, torch not imported)
* ``robarena ls`` with all built-in plugins (target < 3 s)
* quick suite from a cold cache (target < 5 min) and warm re-run (target < 10 s, zero recomputation)
"""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.perf


def _run(*cmd):
    out = subprocess.run(list(cmd), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_import_bench(benchmark):
    benchmark.pedantic(_run, args=(sys.executable, "-c", "import bench, sys; assert 'torch' not in sys.modules"),
                       rounds=5, iterations=1)


def test_robarena_ls(benchmark):
    benchmark.pedantic(_run, args=("robarena", "ls"), rounds=3, iterations=1)


def test_quick_suite_cold(benchmark, tmp_path_factory):
    def cold():
        wd = tmp_path_factory.mktemp("cold")
        _run("robarena", "run", "quick", "--workdir", str(wd), "--no-progress", "--device", "cpu")

    benchmark.pedantic(cold, rounds=1, iterations=1)


def test_quick_suite_warm(benchmark, tmp_path):
    _run("robarena", "run", "quick", "--workdir", str(tmp_path), "--no-progress", "--device", "cpu")

    def warm():
        out = _run("robarena", "run", "quick", "--workdir", str(tmp_path), "--no-progress", "--device", "cpu")
        assert " 0 cell(s) computed" in out.stdout

    benchmark.pedantic(warm, rounds=3, iterations=1)
