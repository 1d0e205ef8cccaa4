"""The recognizability judge is part of the task cell's cache key and of its record's meta."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import save_file

from bench.errors import UsageError
from bench.registry import get_registry
from bench.runner.context import RunContext
from bench.runner.plan import build_plan
from bench.runner.stages import key_for, meta_for


def task_key(ctx, cell):
    """The cell's key now (keys are memoized for the life of a run: forget them between calls here)."""
    ctx.keys.clear()
    return key_for(ctx, cell)
from bench.runner.suite import resolve_suite

REGISTRY = get_registry()


def suite(**task_params) -> dict:
    params = {"steps": 2, "starts": 1, "judge_model": "classics/linear",
              "judge_train": {"epochs": 2, "batch_size": 50, "lr": 0.1}, **task_params}
    return {"name": "judge-provenance",
            "datasets": [{"id": "core/digits", "params": {"n_train": 100, "n_test": 20}}],
            "models": [{"id": "classics/linear"}], "defenses": [{"id": "classics/standard"}],
            "tasks": [{"id": "recognizability/recognizability", "params": params}],
            "train": {"epochs": 1, "batch_size": 50}, "eval": {"n": 20, "batch_size": 20}}


def task_cell(suite_dict: dict):
    (cell,) = build_plan(resolve_suite(suite_dict, REGISTRY), REGISTRY).task_cells
    return cell


@pytest.fixture
def ctx(tmp_path):
    context = RunContext(registry=REGISTRY, workdir=tmp_path / "wd", device=torch.device("cpu"), progress=False)
    yield context
    context.close()


def with_version(monkeypatch, ctx: RunContext, qid: str, version: str) -> None:
    """The registry of ``ctx`` answers ``qid`` with its spec at ``version`` (a new release of the judge)."""
    real_get = ctx.registry.get

    def get(kind, ident):
        entry = real_get(kind, ident)
        if entry.qualified_id != qid:
            return entry
        return dataclasses.replace(entry, spec=entry.spec.model_copy(update={"version": version}))

    monkeypatch.setattr(ctx.registry, "get", get)


def test_judge_settings_change_the_task_key(ctx):
    base = task_key(ctx, task_cell(suite()))
    for change in ({"judge_seed": 1001}, {"judge_train": {"epochs": 3, "batch_size": 50, "lr": 0.1}},
                   {"judge_defense": "classics/pgd-at"}, {"judge_model": "classics/small-cnn"}, {"judge": "self"}):
        assert task_key(ctx, task_cell(suite(**change))) != base, change
    assert task_key(ctx, task_cell(suite())) == base  # and nothing else moves it


@pytest.mark.parametrize("qid", ["classics/linear", "classics/standard"])
def test_a_new_version_of_the_judge_model_or_defense_changes_the_task_key(ctx, monkeypatch, qid):
    cell = task_cell(suite())
    base = task_key(ctx, cell)
    with_version(monkeypatch, ctx, qid, "99")
    assert task_key(ctx, cell) != base


def test_the_judge_checkpoint_contents_change_the_task_key(ctx, tmp_path):
    path = tmp_path / "judge.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    cell = task_cell(suite(judge="checkpoint", judge_checkpoint=str(path)))
    first = task_key(ctx, cell)
    save_file({"w": torch.ones(2)}, str(path))  # same path, other weights
    assert task_key(ctx, cell) != first
    path.unlink()
    with pytest.raises(UsageError, match="judge_checkpoint .* does not exist"):
        task_key(ctx, cell)


def test_meta_names_the_judge_with_its_versions_and_settings(ctx):
    cell = task_cell(suite(judge_seed=7))
    meta = meta_for(ctx, cell)
    judge = meta["dependencies"]["judge"]
    linear, standard = REGISTRY.get("model", "classics/linear"), REGISTRY.get("defense", "classics/standard")
    from bench.runner.fingerprint import code_fingerprint

    assert judge["components"] == {
        "model": {"id": "classics/linear", "version": linear.version, "dist": linear.plugin.distribution,
                  "dist_version": linear.plugin.version, "code": code_fingerprint(linear.spec.target)},
        "defense": {"id": "classics/standard", "version": standard.version, "dist": standard.plugin.distribution,
                    "dist_version": standard.plugin.version, "code": code_fingerprint(standard.spec.target)}}
    assert judge["components"]["model"]["code"] is not None
    assert judge["settings"]["seed"] == 7 and judge["settings"]["judge"] == "train"
    assert judge["settings"]["train"] == {**cell.task.kwargs["judge_train"]}
    assert judge["settings"]["train"]["epochs"] == 2
    # the judge's versions join the row's provenance versions
    assert meta["specs"]["classics/standard"] == standard.version
    assert meta["plugins"][linear.plugin.distribution] == linear.plugin.version


def test_a_self_judge_is_named_too(ctx):
    meta = meta_for(ctx, task_cell(suite(judge="self")))
    assert meta["dependencies"]["judge"] == {"components": {}, "settings": {"judge": "self"}}


def test_the_attack_is_a_dependency_with_its_version_and_parameters(ctx, monkeypatch):
    cell = task_cell(suite(judge="self"))
    attack = REGISTRY.get("attack", "classics/pgd-unbounded")
    dep = meta_for(ctx, cell)["dependencies"]["attack"]
    assert set(dep["components"]) == {"attack"}
    assert {k: dep["components"]["attack"][k] for k in ("id", "version", "dist", "dist_version")} == {
        "id": "classics/pgd-unbounded", "version": attack.version, "dist": attack.plugin.distribution,
        "dist_version": attack.plugin.version}
    assert dep["settings"] == {"params": {"steps": 2, "step_size": 2 / 255, "start": "input", "early_stop": False}}
    base = task_key(ctx, cell)
    with_version(monkeypatch, ctx, "classics/pgd-unbounded", "99")
    assert task_key(ctx, cell) != base
