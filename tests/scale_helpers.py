"""Helpers shared by the scale tests (test_scale_*.py): test-plugin paths, subprocess runs, store dumps."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
KITS = (TESTS / "testkit", TESTS / "scalekit")
PLUGINS = ("robarena_testkit", "robarena_scalekit")


def kit_env(**extra: str) -> dict[str, str]:
    """Environment of a ``robarena`` subprocess (or Ray worker) that loads only the test plugins."""
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join([*map(str, KITS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               ROBARENA_DISABLE_PLUGIN_AUTOLOAD="1", **extra)
    return env


def robarena(*args: str, **popen) -> subprocess.Popen:
    """Start ``robarena ARGS -p <test plugins>`` as a subprocess (stdout and stderr piped)."""
    cmd = [sys.executable, "-m", "bench.cli.main", *[a for p in PLUGINS for a in ("-p", p)], *args]
    return subprocess.Popen(cmd, env=popen.pop("env", kit_env()), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def write_suite(path: Path, suite: dict) -> Path:
    """A suite dict as a TOML file (flat enough for a hand-written encoder: tables of scalars/lists)."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    lines = []
    for key, v in suite.items():
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and not any(isinstance(x, dict) for x in v)):
            lines.append(f"{key} = {value(v)}")
    for key, v in suite.items():
        if isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for entry in v:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {value(x)}" for k, x in entry.items()]
        elif isinstance(v, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {value(x)}" for k, x in v.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def store_cells(workdir: Path) -> dict[str, dict]:
    """Every cell record of a work directory by key, without run-specific fields (dates, timings, logs)."""
    conn = sqlite3.connect(str(workdir / "results.sqlite"))
    try:
        rows = conn.execute("SELECT key, stage, cell_id, status, payload, meta, error FROM cells").fetchall()
    finally:
        conn.close()
    out = {}
    for key, stage, cell_id, status, payload, meta, error in rows:
        payload = {k: v for k, v in json.loads(payload).items() if k not in ("seconds", "log")}
        out[key] = {"stage": stage, "cell_id": cell_id, "status": status, "payload": payload,
                    "meta": json.loads(meta), "error": error}
    return out


def row_dump(rows) -> list[dict]:
    return [r.model_dump(exclude={"provenance": {"date"}}) for r in rows]


@pytest.fixture
def kits(testkit, monkeypatch):
    """``-p`` options loading the core test kit and the scale kit (OOM-raising components)."""
    monkeypatch.syspath_prepend(str(KITS[1]))
    yield PLUGINS
    sys.modules.pop("robarena_scalekit", None)
