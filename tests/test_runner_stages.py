"""The typed stages: one cached-execution path, keys resolved once, checkpoints hashed once."""
from __future__ import annotations

import torch
from safetensors.torch import save_file

import bench
from bench.runner.plan import AttackCell, CleanCell, CorruptionCell, ProbeCell, TaskCell, TrainCell
from bench.runner.stages import STAGES, stage_for
from bench.runner.stages.base import Stage

ATTACKS = [{"id": "sign", "eps": 0.1}, {"id": "sign", "eps": 0.2}, {"id": "noise", "eps": 0.1}]
PROBES = [{"id": "confidence"}, {"id": "adv-gap"}]


def _checkpoint(tmp_path):
    from bench.testing.tiny import TinyLinear

    torch.manual_seed(0)
    path = tmp_path / "lin.safetensors"
    save_file(TinyLinear((1, 8, 8), 10).state_dict(), str(path))
    return path


def _count_reads(monkeypatch, path):
    """Count sha256 passes over ``path`` and weight loads from it."""
    import bench.runner.keys as keys
    import bench.runner.stages.train as train

    counts = {"hash": 0, "load": 0}
    real_hash, real_load = keys.file_sha256, train.load_state

    def counting_hash(p):
        counts["hash"] += str(p) == str(path)
        return real_hash(p)

    def counting_load(p):
        counts["load"] += str(p) == str(path)
        return real_load(p)

    monkeypatch.setattr(keys, "file_sha256", counting_hash)
    monkeypatch.setattr(train, "load_state", counting_load)
    return counts


def test_a_warm_eval_hashes_its_checkpoint_once_and_never_loads_it(tmp_path, testkit, monkeypatch):
    ckpt = _checkpoint(tmp_path)
    counts = _count_reads(monkeypatch, ckpt)
    kwargs = dict(arch="tiny-linear", checkpoint=str(ckpt), dataset="core/digits", attacks=ATTACKS, probes=PROBES,
                  n=40, workdir=tmp_path / "wd", plugins=testkit)
    cold = bench.evaluate(**kwargs)
    assert cold.ok, cold.failures
    assert counts == {"hash": 1, "load": 1}  # 1 train + 1 clean + 3 attacks + 2 probes, one read each way
    counts.update(hash=0, load=0)
    warm = bench.evaluate(**kwargs)
    assert warm.ok and warm.computed == 0
    assert counts == {"hash": 1, "load": 0}
    assert warm.rows[0].model_dump(exclude={"provenance"}) == cold.rows[0].model_dump(exclude={"provenance"})


def test_every_cell_kind_has_one_stage_with_the_whole_contract():
    assert set(STAGES) == {TrainCell, CleanCell, AttackCell, ProbeCell, TaskCell, CorruptionCell}
    names = {stage.name for stage in STAGES.values()}
    assert names == {"train", "clean", "attack", "probe", "task", "corruption"}
    assert all(isinstance(stage, Stage) for stage in STAGES.values())


def test_keys_are_computed_once_per_cell_and_run(tmp_path, testkit, monkeypatch):
    """Parts are hashed once per cell: a probe that reads three attacks does not re-derive their keys."""
    from bench.runner.stages import base

    calls = []
    real = base.cell_key

    def counting(stage, parts):
        calls.append(stage)
        return real(stage, parts)

    monkeypatch.setattr(base, "cell_key", counting)
    ckpt = _checkpoint(tmp_path)
    res = bench.evaluate(arch="tiny-linear", checkpoint=str(ckpt), dataset="core/digits", attacks=ATTACKS,
                         probes=PROBES, n=40, workdir=tmp_path / "wd", plugins=testkit)
    assert res.ok
    # one train, one clean, three attacks, two probes (integrity probes are not registered by the testkit)
    assert sorted(calls) == sorted(["train", "clean", "attack", "attack", "attack", "probe", "probe"])


def test_stage_for_dispatches_on_the_cell_type_only():
    for cell_type, stage in STAGES.items():
        fake = cell_type.__new__(cell_type)
        assert stage_for(fake) is stage
