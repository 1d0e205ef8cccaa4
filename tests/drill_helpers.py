"""A finished run to read back (made once per test process): three rows of the tiny linear model
(trained by ``erm``, by the wrapping ``shifted`` defense of ``robarena_wrapkit``, and by ``broken``,
whose training fails) under four attack cells: two at Linf 0.1 (one worst case), an L2 and a
targeted L2 one. 40 evaluation examples in batches of 16."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

TESTKIT = Path(__file__).parent / "testkit"
PLUGINS = ("robarena_testkit", "robarena_wrapkit")
N = 40
SUITE = {
    "name": "drill",
    "datasets": [{"id": "core/digits", "params": {"n_train": 300, "n_test": N}}],
    "models": [{"id": "tiny-linear"}],
    "defenses": [{"id": "erm"}, {"id": "shifted"}, {"id": "broken"}],
    "attacks": [{"id": "sign", "label": "sign3", "eps": 0.1, "params": {"steps": 3}},
                {"id": "noise", "eps": 0.1},
                {"id": "sign", "label": "sign2", "norm": "L2", "eps": 0.5, "params": {"steps": 2}},
                {"id": "sign", "label": "sign-t", "norm": "L2", "eps": 0.5, "targeted": True}],
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.1},
    "eval": {"n": N, "batch_size": 16},
}


@dataclass
class Drill:
    workdir: Path
    result: Any  # the RunResult of the run


_DRILL: Optional[Drill] = None


def drill_run(base: Path) -> Drill:
    global _DRILL
    if _DRILL is None or not _DRILL.workdir.is_dir():
        import bench
        from bench.registry import _CACHE

        with pytest.MonkeyPatch.context() as mp:
            mp.syspath_prepend(str(TESTKIT))
            mp.setenv("ROBARENA_DISABLE_PLUGIN_AUTOLOAD", "1")
            _CACHE.clear()
            result = bench.run(SUITE, workdir=base / "drill", plugins=PLUGINS, device="cpu")
            _CACHE.clear()
        assert len(result.rows) == 3 and {f.stage for f in result.failures} == {"train", "clean", "attack"}
        _DRILL = Drill(base / "drill", result)
    return _DRILL


_RECORDS: dict = {}


def arrays(workdir, row_id, stage, label=None):
    """A stored cell's arrays, read from the store and cache directly (``label``: the attack's)."""
    from bench.runner.results import load_run_records
    from bench.store.cache import ArtifactCache

    if workdir not in _RECORDS:
        _RECORDS[workdir] = load_run_records(workdir, "drill")[0]
    (rec,) = [r for r in _RECORDS[workdir] if r["meta"]["row_id"] == row_id and r["stage"] == stage
              and (label is None or r["meta"]["attack"] == label)]
    return ArtifactCache(workdir / "cache").get_tensors(rec["payload"]["arrays"])


def eval_data():
    """The evaluation examples (x, y) of the drill suite, loaded afresh from the dataset."""
    from bench.registry import get_registry

    impl = get_registry(PLUGINS).get("dataset", "core/digits").load()
    data = impl(impl.Config(n_train=300, n_test=40))()
    return data.x_test, data.y_test


@pytest.fixture
def drill(tmp_path_factory, testkit) -> Drill:
    """The finished ``drill`` run, with the test plugins importable (``PLUGINS``)."""
    return drill_run(tmp_path_factory.getbasetemp())
