"""``robarena mock-run infotransfer``: the tasks run on mock-run's 8x8 digits with their smoke configurations."""
from __future__ import annotations

import pytest
import torch

from bench.api import Task
from bench.api.config import BaseConfig
from bench.cli.main import main
from bench.cli.mock_run import mock_suite
from bench.registry import get_registry
from bench.runner.results import load_rows
from robarena_infotransfer.tasks.inversion import InversionConfig, InversionTask
from robarena_infotransfer.tasks.transfer import LUMA, Transfer, TransferConfig, default_targets, reshape_images

TRANSFER_COLUMNS = [f"transfer.{t}.{m}" for t in ("near", "far")
                    for m in ("accuracy", "distance", "class_emd", "robust_accuracy")]


def test_mock_run_of_infotransfer_passes_end_to_end(tmp_path, capsys):
    code = main(["mock-run", "infotransfer", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 failed" in out
    (row,) = load_rows(tmp_path, "mock-infotransfer")
    assert row.errors == []
    assert sorted(k for k in row.tasks if k.startswith("transfer.")) == sorted(TRANSFER_COLUMNS)
    for column in TRANSFER_COLUMNS:
        assert row.tasks[column] is not None, column
    for metric in ("accuracy", "robust_accuracy"):
        assert 0.0 <= row.tasks[f"transfer.near.{metric}"] <= 1.0
    assert row.tasks["transfer.far.distance"] > 0  # 8x8 digits vs resized digits32: not the same sample
    assert row.tasks["inversion.final_loss"] is not None


def test_mock_suite_gives_each_task_its_smoke_config():
    tasks = {t["id"]: t["params"] for t in mock_suite(get_registry(), "infotransfer")["tasks"]}
    assert tasks == {"infotransfer/transfer": Transfer.smoke_config().model_dump(mode="json"),
                     "infotransfer/inversion": InversionTask.smoke_config().model_dump(mode="json")}
    assert tasks["infotransfer/transfer"]["match_shape"] is True


def test_a_task_without_smoke_config_runs_its_defaults():
    class Plain(Task):
        class Config(BaseConfig):
            steps: int = 7

        def run(self, model, inputs, generator):  # pragma: no cover - not run here
            raise NotImplementedError

    assert Plain.smoke_config() == Plain.Config(steps=7)


def test_paper_defaults_are_unchanged_and_the_smoke_config_only_cuts_cost():
    cfg = TransferConfig()
    assert (cfg.match_shape, cfg.n_train, cfg.n_test, cfg.c, cfg.max_iter, cfg.distance_n) == (
        False, None, None, 1.0, 1000, 500)
    assert (cfg.norm, cfg.eps, cfg.attack_steps, cfg.step_size, cfg.robust_n, cfg.batch_size) == (
        "L2", 1.0, 20, None, 200, 256)
    smoke = Transfer.smoke_config()
    assert smoke.targets == default_targets() and smoke.match_shape
    assert (smoke.norm, smoke.eps, smoke.c) == (cfg.norm, cfg.eps, cfg.c)
    inv = InversionConfig()
    assert (inv.n_images, inv.steps, inv.fisher_examples) == (8, 10000, 256)
    small = InversionTask.smoke_config()
    assert small.model_dump(exclude={"n_images", "steps", "fisher_examples"}) == \
        inv.model_dump(exclude={"n_images", "steps", "fisher_examples"})


def test_match_shape_turns_32x32_rgb_into_8x8_grey_by_luma():
    rgb = torch.empty(2, 3, 32, 32)
    rgb[:, 0], rgb[:, 1], rgb[:, 2] = 0.2, 0.6, 1.0  # constant channels: resizing keeps them
    grey = reshape_images(rgb, (1, 8, 8))
    expected = LUMA[0] * 0.2 + LUMA[1] * 0.6 + LUMA[2] * 1.0
    assert grey.shape == (2, 1, 8, 8)
    assert torch.allclose(grey, torch.full_like(grey, expected), atol=1e-6)
    assert sum(LUMA) == pytest.approx(1.0)  # white stays white
