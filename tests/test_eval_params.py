"""``robarena eval`` and ``bench.evaluate`` take attack, probe, dataset and architecture parameters,
validated by the same config classes and errors as suites."""
from __future__ import annotations

import pytest
import torch

from bench.cli.eval_cmd import parse_attack, parse_component, parse_params
from bench.cli.main import main
from bench.errors import UsageError


def test_parameter_syntax():
    assert parse_attack("classics/pgd:Linf:0.3:steps=100,restarts=5") == {
        "id": "classics/pgd", "norm": "Linf", "eps": "0.3", "params": {"steps": 100, "restarts": 5}}
    assert parse_attack("classics/pgd:Linf:8/255")["params"] == {}
    assert parse_attack("x:unbounded:steps=5") == {"id": "x", "norm": "unbounded", "params": {"steps": 5}}
    assert parse_params("loss=cw,early_stop=false,scale=0.5,ks=[1, 2]", "o") == {
        "loss": "cw", "early_stop": False, "scale": 0.5, "ks": [1, 2]}
    assert parse_component("core/cifar10:root=/data/c10,n_test=1000", "--dataset") == (
        "core/cifar10", {"root": "/data/c10", "n_test": 1000})
    for bad in ("x:Linf", "x:Linf:0.1:steps", "x:Linf:0.1:steps=1,steps=2"):
        with pytest.raises(UsageError):
            parse_attack(bad)


@pytest.fixture
def checkpoint(tmp_path):
    from bench.testing.tiny import TinyLinear

    torch.manual_seed(0)
    path = tmp_path / "lin.pt"
    torch.save(TinyLinear((1, 8, 8), 10).state_dict(), path)
    return path


def _eval(tmp_path, checkpoint, *args):
    return main(["-p", "robarena_testkit", "eval", "--arch", "tiny-linear", "--checkpoint", str(checkpoint),
                 "--workdir", str(tmp_path / "wd"), "--no-progress", "--device", "cpu", *args])


def test_eval_applies_attack_and_dataset_parameters(tmp_path, testkit, checkpoint):
    from bench.runner.results import load_rows

    code = _eval(tmp_path, checkpoint, "--dataset", "core/digits:n_test=50", "--attack", "sign:Linf:0.1:steps=3",
                 "--attack", "sign:Linf:0.1", "--attack", "sign:L2:0.5", "--probe", "confidence", "--n", "500")
    assert code == 0
    (row,) = load_rows(tmp_path / "wd", "eval")
    assert row.attack("robarena_testkit/sign", norm="Linf", steps=3).label == "sign(steps=3)"
    assert row.attack("robarena_testkit/sign", norm="Linf", steps=1).label == "sign"  # the config's default
    assert row.attack("robarena_testkit/sign", norm="L2").params == {"steps": 1}
    assert row.dataset_params["n_test"] == 50 and row.clean.n == 50  # the dataset's own size limits n


def test_bad_parameters_fail_like_in_suites(tmp_path, testkit, checkpoint, capsys):
    code = _eval(tmp_path, checkpoint, "--dataset", "core/digits", "--attack", "sign:Linf:0.1:stepz=3")
    err = capsys.readouterr().err
    assert code == 2 and "stepz: unknown parameter" in err and "Allowed parameters: steps" in err
    code = _eval(tmp_path, checkpoint, "--dataset", "core/digits:n_tset=5", "--attack", "sign:Linf:0.1")
    err = capsys.readouterr().err
    assert code == 2 and "n_tset" in err and "Traceback" not in err
